"""γ solved, not only bounded (docs/science.md#a-margin-solve): the Monte-Carlo convex program of
Assumption 1 and its dual.

With M directions z_k ~ N(0, I) and a_ik = 1(z_kᵀx_i > 0), the program is

  max γ  s.t.  y_i (1/M) Σ_k a_ik v_kᵀx_i ≥ γ for every i,  ‖v_k‖ ≤ 1.

Its dual (minimax over the simplex Δ of point weights λ) is

  min_{λ ∈ Δ} D(λ) = (1/M) Σ_k ‖g_k(λ)‖,  g_k(λ) = Σ_i λ_i y_i a_ik x_i,

and for any λ the map v_k = g_k/‖g_k‖ is a primal certificate: its margins m_i(λ) are the gradient of D
at λ, and min_i m_i(λ) ≤ (program value) ≤ D(λ') for every λ, λ'. The solver minimises a Huber-smoothed
D by accelerated projected gradient (FISTA with backtracking and adaptive restart) and keeps the best
certificate and the best dual value seen; their difference is the duality gap.

The certificate is defined for *every* direction z, v(z) = g(z)/‖g(z)‖ with
g(z) = Σ_i λ_i y_i 1(zᵀx_i > 0) x_i, so it is an admissible map of Assumption 1 itself: its population
margins E_z[1(zᵀx_i > 0) v(z)ᵀx_i] are lower bounds on γ, estimated without bias on fresh directions.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

log = logging.getLogger("softlabels")

#: seconds between the solver's progress lines (in a job's log: docs/development.md)
PROGRESS_EVERY_S = 2.0


def project_simplex(v: np.ndarray) -> np.ndarray:
    """Euclidean projection onto {λ ≥ 0, Σλ = 1}."""
    u = np.sort(v)[::-1]
    css = np.cumsum(u) - 1.0
    k = np.arange(1, len(v) + 1)
    r = np.nonzero(u * k > css)[0][-1]
    return np.maximum(v - css[r] / (r + 1), 0.0)


@dataclass
class MCMarginSolution:
    primal: float  # min_i m_i of the best certificate: achieved on the M directions (a lower bound on the value)
    dual: float  # best D(λ): an upper bound on the program's value
    lam: np.ndarray  # the point weights of the best certificate
    margins: np.ndarray  # its per-point margins on the M directions
    iterations: int
    seconds: float
    n_directions: int

    @property
    def gap(self) -> float:
        return self.dual - self.primal


class MCMarginProblem:
    """The program for one data set (rows of X with ‖x‖ ≤ 1, labels y in {0, 1} or {−1, +1})."""

    def __init__(self, X: np.ndarray, y: np.ndarray, n_directions: int = 4000, seed: int = 0):
        self.X = np.asarray(X, dtype=np.float64)
        self.y = np.where(np.asarray(y) > 0, 1.0, -1.0)
        self.YX = self.y[:, None] * self.X
        self.M = int(n_directions)
        self.seed = seed
        Z = np.random.default_rng([seed, 1]).standard_normal((self.M, self.X.shape[1]))
        self.A = (self.X @ Z.T > 0).astype(np.float64)  # (n, M)

    def g(self, lam: np.ndarray) -> np.ndarray:
        """g_k(λ) for every direction: an (M, d) array (linear in λ)."""
        return self.A.T @ (lam[:, None] * self.YX)

    def dual_value(self, G: np.ndarray) -> float:
        """D = (1/M) Σ_k ‖g_k‖."""
        return float(np.linalg.norm(G, axis=1).mean())

    @staticmethod
    def smoothed_value(G: np.ndarray, mu: float) -> float:
        """D_μ = (1/M) Σ_k h_μ(‖g_k‖), h_μ(r) = r for r ≥ μ and r²/(2μ) + μ/2 below: D ≤ D_μ ≤ D + μ/2."""
        r = np.linalg.norm(G, axis=1)
        if mu <= 0:
            return float(r.mean())
        return float(np.where(r >= mu, r, r * r / (2 * mu) + mu / 2).mean())

    def margins(self, G: np.ndarray, mu: float = 0.0) -> np.ndarray:
        """m_i of the certificate v_k = g_k / max(‖g_k‖, μ) (norm ≤ 1; v_k = 0 where g_k = 0): the gradient of D_μ."""
        nr = np.maximum(np.linalg.norm(G, axis=1), mu)
        V = G / np.where(nr > 0, nr, 1.0)[:, None]
        return np.sum(self.YX * (self.A @ V), axis=1) / self.M

    def solve(self, max_iter: int = 500, rel_tol: float = 1e-3, max_seconds: float = float("inf")) -> MCMarginSolution:
        """FISTA on the smoothed dual D_μ over the simplex, μ = ½·rel_tol·(best dual so far).

        Without smoothing, directions whose g_k vanishes at the optimum make D non-differentiable there and
        the gradient certificate is not the optimal v. At the optimum of D_μ the certificate
        v_k = g_k/max(‖g_k‖, μ) is within μ/2 of the program's value, so the gap can close to rel_tol.
        Stops when (dual − primal) ≤ rel_tol·|dual|, after max_iter iterations or after max_seconds
        (the bounds are valid whenever it stops; only the gap is wider).
        """
        t0 = time.time()
        n = len(self.y)
        lam = np.full(n, 1.0 / n)
        G_lam = self.g(lam)
        best_d = self.dual_value(G_lam)
        mu = 0.5 * rel_tol * best_d
        yv, G_y = lam, G_lam
        tk, L = 1.0, 1.0
        best_p = -np.inf
        best_lam, best_m = lam, None
        f_lam = self.smoothed_value(G_lam, mu)
        it = 0
        log.info("margin solver: %d points, %d directions, dimension %d; at most %d iterations, relative gap %g",
                 n, self.M, self.X.shape[1], max_iter, rel_tol)
        last = t0
        for it in range(1, max_iter + 1):
            mu = 0.5 * rel_tol * max(best_d, 0.0)
            m_y = self.margins(G_y, mu)
            if m_y.min() > best_p:
                best_p, best_lam, best_m = float(m_y.min()), yv, m_y
            if yv.min() >= 0:  # D(λ) bounds the value only for λ in the simplex (an extrapolated point may leave it)
                best_d = min(best_d, self.dual_value(G_y))
            now = time.time()
            done = best_d - best_p <= rel_tol * abs(best_d) or now - t0 > max_seconds
            if it == 1 or done or it == max_iter or now - last >= PROGRESS_EVERY_S:
                last = now
                log.info("margin solver: iteration %d/%d  primal %.6g  dual %.6g  gap %.3g (%.2g relative)  %.1fs",
                         it, max_iter, best_p, best_d, best_d - best_p, (best_d - best_p) / max(abs(best_d), 1e-300),
                         now - t0)
            if done:
                break
            f_y = self.smoothed_value(G_y, mu)
            while True:  # backtracking on the local Lipschitz constant
                new = project_simplex(yv - m_y / L)
                G_new = self.g(new)
                f_new = self.smoothed_value(G_new, mu)
                step = new - yv
                if f_new <= f_y + m_y @ step + 0.5 * L * (step @ step) + 1e-15 * abs(f_y):
                    break
                L *= 2.0
            best_d = min(best_d, self.dual_value(G_new))
            if f_new > f_lam:  # adaptive restart: drop the momentum when the objective goes up
                tk = 1.0
            tn = (1 + np.sqrt(1 + 4 * tk * tk)) / 2
            beta = (tk - 1) / tn
            yv = new + beta * (new - lam)
            G_y = G_new + beta * (G_new - G_lam)  # g is linear in λ
            lam, G_lam, f_lam, tk = new, G_new, f_new, tn
            L *= 0.9
        return MCMarginSolution(best_p, best_d, best_lam, best_m, it, time.time() - t0, self.M)

    def population_margins(self, lam: np.ndarray, n_directions: int = 20000, seed: int = 1,
                           chunk: int = 4000) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard error, per point, of y_i 1(zᵀx_i > 0) v(z)ᵀx_i over fresh directions z,
        v(z) = g(z)/‖g(z)‖ the certificate of ``lam`` extended to every direction."""
        rng = np.random.default_rng([self.seed, 2, seed])
        d = self.X.shape[1]
        s1 = np.zeros(len(self.y))
        s2 = np.zeros(len(self.y))
        done = 0
        while done < n_directions:
            k = min(chunk, n_directions - done)
            A = (self.X @ rng.standard_normal((k, d)).T > 0).astype(np.float64)
            G = A.T @ (lam[:, None] * self.YX)
            nr = np.linalg.norm(G, axis=1)
            V = G / np.where(nr > 0, nr, 1.0)[:, None]
            T = A * (self.YX @ V.T)  # (n, k) terms
            s1 += T.sum(1)
            s2 += (T * T).sum(1)
            done += k
        mean = s1 / done
        var = np.maximum(s2 / done - mean ** 2, 0.0)
        return mean, np.sqrt(var / done)


def solve_mc_margin(X: np.ndarray, y: np.ndarray, n_directions: int = 4000, seed: int = 0, max_iter: int = 500,
                    rel_tol: float = 1e-3, fresh_directions: int = 20000, max_work: float = 1e11,
                    max_seconds: float = float("inf")) -> dict[str, float]:
    """Solve the program and estimate its certificate's population margin; ‖x‖ ≤ 1 is assumed.

    The iterations are capped by ``max_iter`` and by a work budget: an iteration costs about 3·n·M·d
    multiply-adds, and at most ``max_work`` of them are spent (so high-dimensional data sets stop early, with
    a wider gap, but the result stays deterministic; ``max_seconds`` is a wall-clock cap, off by default).
    """
    prob = MCMarginProblem(X, y, n_directions, seed)
    per_iter = 3.0 * prob.A.size * prob.X.shape[1]
    sol = prob.solve(max(1, min(max_iter, int(max_work // per_iter))), rel_tol, max_seconds)
    log.info("margin solver: stopped after %d iterations (%.1fs), gap %.3g; certificate on %d fresh directions",
             sol.iterations, sol.seconds, sol.gap, fresh_directions)
    mean, se = prob.population_margins(sol.lam, fresh_directions)
    i = int(np.argmin(mean))
    return {
        "primal": sol.primal, "dual": sol.dual, "gap": sol.gap, "iterations": sol.iterations,
        "seconds": sol.seconds, "n_directions": sol.n_directions, "fresh_directions": int(fresh_directions),
        "population_min": float(mean[i]), "population_se": float(se[i]),
        "population_lower": float(np.min(mean - 3 * se)),
        "n_support": int(np.sum(sol.lam > 1e-6 * sol.lam.max())),
        "converged": bool(sol.gap <= rel_tol * abs(sol.dual)),
    }
