"""A throw-away single-node SLURM cluster on this machine, for the SLURM integration test.

It runs Debian's ``slurm-wlm`` and ``munge`` (``.ci/run`` installs them) as root, with every file it
writes (slurm.conf, gres.conf, munge key and socket, spool, logs, pid files) in one directory, talking
over 127.0.0.1 only. The node has two partitions, ``cpu`` (default) and ``gpu``, and one ``gpu`` GRES
whose device file is ``/dev/null``: a stand-in that lets the scheduler route and account GPU requests
on a machine without a GPU. ``MinJobAge`` is large, so ``squeue``/``scontrol show job`` keep reporting
finished jobs (there is no accounting database, hence no ``sacct``).

From Python (what tests/test_slurm.py does)::

    with SlurmTestCluster(tmpdir) as cluster:
        subprocess.run([...], env=cluster.env)   # sbatch/squeue/snakemake see this cluster
        cluster.jobs()                           # `scontrol show job` as dicts

From a shell, to try the SLURM profile by hand::

    python tests/slurm_cluster.py run -- snakemake --workflow-profile workflow/profiles/slurm ...
    eval "$(python tests/slurm_cluster.py start /tmp/slurm)"   # sets SLURM_CONF and PATH; then sinfo, sbatch...
    python tests/slurm_cluster.py stop /tmp/slurm

The daemons listen on the ports written in slurm.conf (free ones, picked at start); clients find the
cluster through SLURM_CONF. `stop` cancels the jobs, shuts the daemons down and waits for them.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scontrol", "sinfo", "scancel", "srun")
NODE_READY = {"idle", "mixed", "allocated"}


class SlurmUnavailable(RuntimeError):
    """SLURM cannot be started on this machine (not installed, not root, daemons fail); the reason says why."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return False


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def parse_scontrol_oneliner(line: str) -> dict[str, str]:
    """``Key=Value Key=Value ...`` (one line of ``scontrol show -o``) as a dict; values keep inner '='."""
    fields: dict[str, str] = {}
    for m in re.finditer(r"(?:^|\s)([A-Za-z][A-Za-z0-9_:/]*)=(.*?)(?=\s+[A-Za-z][A-Za-z0-9_:/]*=|$)", line.strip()):
        fields[m.group(1)] = m.group(2)
    return fields


class SlurmTestCluster:
    """Start/stop slurmctld, slurmd and munged with all state under ``root``."""

    def __init__(self, root: Path | str, cpus: int | None = None, timeout: float = 60.0):
        self.root = Path(root).resolve()
        self.timeout = timeout
        self.node = socket.gethostname().split(".")[0]
        self.cpus = cpus
        self.etc, self.spool, self.log, self.run_dir = (self.root / d for d in ("etc", "spool", "log", "run"))
        self.conf = self.etc / "slurm.conf"
        self.munge_socket = self.run_dir / "munge.socket"
        self.bin = self.root / "bin"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf), "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}"}
        for var in [v for v in self.env if v.startswith(("SLURM_", "SBATCH_", "SRUN_")) and v != "SLURM_CONF"]:
            del self.env[var]  # a surrounding allocation must not leak into the test cluster
        self._started: list[str] = []

    # --- checks -----------------------------------------------------------------------------------

    @staticmethod
    def missing() -> str | None:
        """Why SLURM cannot run here (None when it can): missing programs or not root."""
        absent = [p for p in (*DAEMONS, *CLIENTS) if not Path(SlurmTestCluster._exe(p)).is_file()]
        if absent:
            return (f"SLURM is not installed ({', '.join(absent)} not found); install Debian's slurm-wlm and "
                    "munge (`apt-get install slurm-wlm munge`, as .ci/run does)")
        if os.geteuid() != 0:
            return "starting a throw-away slurmd needs root (it launches jobs as their owner)"
        return None

    @staticmethod
    def _exe(name: str) -> str:
        """The system's program (never the srun wrapper in ``bin/``)."""
        found = [p for d in ("/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin") if (p := Path(d, name)).exists()]
        return str(found[0]) if found else (shutil.which(name) or name)

    # --- configuration ----------------------------------------------------------------------------

    def _node_line(self) -> str:
        """The node's line of slurm.conf, from the hardware slurmd sees (``slurmd -C``)."""
        out = subprocess.run([self._exe("slurmd"), "-C"], capture_output=True, text=True, timeout=30).stdout
        hw = parse_scontrol_oneliner(out.splitlines()[0]) if out.strip() else {}
        # The node claims at least 4 CPUs and 64 GB, whatever the machine has (SlurmdParameters=
        # config_overrides; CR_CPU without cgroups enforces neither): Snakemake's jobs spend much of
        # their time starting up, so a 2-core machine runs 4 of them well, and the profile's memory
        # requests, sized for real clusters, fit.
        cpus = self.cpus or max(int(hw.get("CPUs", os.cpu_count() or 1)), 4)
        mem = max(int(hw.get("RealMemory", 0)), 65536)
        return (f"NodeName={self.node} NodeAddr=127.0.0.1 NodeHostname={self.node} CPUs={cpus} "
                f"RealMemory={mem} Gres=gpu:1 State=UNKNOWN")

    def write_config(self) -> None:
        for d in (self.etc, self.spool / "ctld", self.spool / "d", self.log, self.run_dir, self.bin):
            d.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)
        # Inside a job, the plugin's slurm-jobstep executor clears every SLURM_* variable (SLURM_CONF too)
        # before it calls srun. Real clusters keep slurm.conf at the default path (or run configless);
        # this one lives only here, so the jobs' PATH leads srun to it.
        srun = self.bin / "srun"
        srun.write_text(f'#!/bin/sh\nSLURM_CONF="{self.conf}" exec "{self._exe("srun")}" "$@"\n')
        srun.chmod(0o755)
        ctld_port, d_port = _free_port(), _free_port()
        (self.etc / "plugstack.conf").write_text("")
        (self.etc / "gres.conf").write_text(f"NodeName={self.node} Name=gpu File=/dev/null\n")
        self.conf.write_text("\n".join([
            "# Throw-away single-node cluster for the softlabels SLURM test (tests/slurm_cluster.py).",
            "ClusterName=softlabels-test",
            f"SlurmctldHost={self.node}(127.0.0.1)",
            f"SlurmctldPort={ctld_port}",
            f"SlurmdPort={d_port}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.munge_socket}",
            f"StateSaveLocation={self.spool / 'ctld'}",
            f"SlurmdSpoolDir={self.spool / 'd'}",
            f"SlurmctldPidFile={self.run_dir / 'slurmctld.pid'}",
            f"SlurmdPidFile={self.run_dir / 'slurmd.pid'}",
            f"SlurmctldLogFile={self.log / 'slurmctld.log'}",
            f"SlurmdLogFile={self.log / 'slurmd.log'}",
            f"PlugStackConfig={self.etc / 'plugstack.conf'}",
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/none",
            "MpiDefault=none",
            "MailProg=/bin/true",
            "SwitchType=switch/none",
            "SchedulerType=sched/backfill",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU",
            "GresTypes=gpu",
            "ReturnToService=2",
            "SlurmdParameters=config_overrides",
            "MinJobAge=86400",  # finished jobs stay visible to squeue / scontrol (no sacct here)
            "MaxJobCount=100000",
            "SlurmctldTimeout=30",
            "SlurmdTimeout=60",
            "InactiveLimit=0",
            "KillWait=5",
            "Waittime=0",
            self._node_line(),
            f"PartitionName=cpu Nodes={self.node} Default=YES MaxTime=INFINITE State=UP",
            f"PartitionName=gpu Nodes={self.node} Default=NO MaxTime=INFINITE State=UP",
            "",
        ]))

    # --- lifecycle --------------------------------------------------------------------------------

    def _wait(self, what: str, ok, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            if ok():
                return
            dead = [n for n in self._started if not _pid_alive(_read_pid(self.run_dir / f"{n}.pid") or 0)]
            if dead:
                raise SlurmUnavailable(f"{', '.join(dead)} exited while waiting for {what}; logs in {self.log}:\n"
                                       f"{self.log_tail()}")
            time.sleep(0.3)
        raise SlurmUnavailable(f"timed out after {timeout or self.timeout:.0f}s waiting for {what}; "
                               f"logs in {self.log}:\n{self.log_tail()}")

    def _daemon(self, name: str, args: list[str], pidfile: Path) -> None:
        proc = subprocess.run([self._exe(name), *args], env=self.env, capture_output=True, text=True, timeout=60,
                              start_new_session=True)
        if proc.returncode != 0:
            raise SlurmUnavailable(f"{name} did not start ({proc.returncode}): {proc.stderr.strip()}\n"
                                   f"{self.log_tail()}")
        self._wait(f"{name} to write {pidfile}", lambda: (_read_pid(pidfile) or 0) > 0, 20)
        self._started.append(name)

    def start(self) -> "SlurmTestCluster":
        why = self.missing()
        if why:
            raise SlurmUnavailable(why)
        self.write_config()
        key = self.etc / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        try:
            self._daemon("munged", ["--force", f"--key-file={key}", f"--socket={self.munge_socket}",
                                    f"--pid-file={self.run_dir / 'munged.pid'}",
                                    f"--log-file={self.log / 'munged.log'}",
                                    f"--seed-file={self.run_dir / 'munged.seed'}"],
                         self.run_dir / "munged.pid")
            self._daemon("slurmctld", ["-c", "-f", str(self.conf)], self.run_dir / "slurmctld.pid")
            self._wait("slurmctld to answer `scontrol ping`",
                       lambda: "UP" in self.scontrol("ping", check=False))
            self._daemon("slurmd", ["-f", str(self.conf), "-N", self.node], self.run_dir / "slurmd.pid")
            self._wait(f"node {self.node} to become idle", self._node_ready)
        except BaseException:
            self.stop()
            raise
        return self

    def _node_ready(self) -> bool:
        state = self.node_state()
        if state.startswith(("drain", "down")):  # e.g. left over from the config check; try once more
            self.scontrol("update", f"NodeName={self.node}", "State=RESUME", check=False)
        return state in NODE_READY

    def node_state(self) -> str:
        out = subprocess.run(["sinfo", "-h", "-N", "-n", self.node, "-o", "%T"], env=self.env, capture_output=True,
                             text=True, timeout=15).stdout.split()
        return out[0].rstrip("*~#$@").lower() if out else ""

    def stop(self) -> None:
        """Cancel every job of this cluster, shut its daemons down and wait for them (then kill by pid)."""
        if "slurmctld" in self._started or _read_pid(self.run_dir / "slurmctld.pid"):
            ids = subprocess.run(["squeue", "-h", "-o", "%A", "-t", "PENDING,RUNNING,CONFIGURING,COMPLETING,SUSPENDED"],
                                 env=self.env, capture_output=True, text=True, timeout=15).stdout.split()
            if ids:
                subprocess.run(["scancel", *ids], env=self.env, capture_output=True, timeout=15)
            self.scontrol("shutdown", check=False)
        for name in ("slurmd", "slurmctld"):
            self._stop_pid(self.run_dir / f"{name}.pid")  # `scontrol shutdown` stops them; else by pid
        self._stop_pid(self.run_dir / "munged.pid", grace=0.0)
        self._started.clear()

    @staticmethod
    def _stop_pid(pidfile: Path, grace: float = 15.0) -> None:
        pid = _read_pid(pidfile)
        if not pid:
            return
        for sig, wait in ((None, grace), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            if sig is not None and _pid_alive(pid):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if not _pid_alive(pid):
                break
        pidfile.unlink(missing_ok=True)

    def __enter__(self) -> "SlurmTestCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- queries ----------------------------------------------------------------------------------

    def scontrol(self, *args: str, check: bool = True) -> str:
        proc = subprocess.run(["scontrol", *args], env=self.env, capture_output=True, text=True, timeout=30)
        if check and proc.returncode != 0:
            raise RuntimeError(f"scontrol {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout + proc.stderr

    def jobs(self) -> list[dict[str, str]]:
        """Every job this cluster knows about, finished ones included (``scontrol show job -o -d``)."""
        out = self.scontrol("show", "job", "-o", "-d", check=False)
        return [parse_scontrol_oneliner(line) for line in out.splitlines() if line.startswith("JobId=")]

    def log_tail(self, n: int = 15) -> str:
        parts = []
        for f in sorted(self.log.glob("*.log")) if self.log.exists() else []:
            lines = f.read_text(errors="replace").splitlines()[-n:]
            parts.append(f"--- {f.name}\n" + "\n".join(lines))
        return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("start", help="start a cluster with its state in DIR; prints the variables to export")
    p.add_argument("dir")
    p = sub.add_parser("stop", help="stop the cluster started in DIR")
    p.add_argument("dir")
    p = sub.add_parser("run", help="start a cluster in a temporary directory, run a command in it, stop it")
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    try:
        if args.cmd == "start":
            c = SlurmTestCluster(args.dir).start()
            print(f"export SLURM_CONF={shlex.quote(str(c.conf))} PATH={shlex.quote(c.env['PATH'])}")
            return 0
        if args.cmd == "stop":
            c = SlurmTestCluster(args.dir)
            c.stop()
            return 0
        command = args.command[1:] if args.command[:1] == ["--"] else args.command
        if not command:
            ap.error("run needs a command after --")
        with tempfile.TemporaryDirectory(prefix="slurm-test-") as tmp, SlurmTestCluster(tmp) as c:
            print(f"SLURM test cluster up (SLURM_CONF={c.conf})", file=sys.stderr)
            return subprocess.run(command, env=c.env).returncode
    except SlurmUnavailable as exc:
        print(f"slurm_cluster: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
