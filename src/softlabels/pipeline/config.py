"""The config: validation against the schema (which holds every default), the cells it asks for,
and the slice of it that each rule reads.

A rule's params are only its slice, so that editing one key re-runs only the jobs that read it
(PyPSA-eur's ``config_provider`` idea). Slices are plain dicts of plain values, canonical: keys sorted
at every level and every ``number`` of the schema a float, so that Snakemake (which compares the repr of
a rule's params) sees no change when a config differs only in key order or in 4 against 4.0.
"""

from __future__ import annotations

import copy
import difflib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import yaml

from softlabels.errors import ConfigError
from softlabels.registry import MODELS, NO_TEACHER, image_kinds, is_deep, teacher_free_kinds


def _with_defaults(validator_class: Any) -> Any:
    from jsonschema import validators

    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator: Any, properties: dict, instance: Any, schema: dict) -> Iterator[Any]:
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub and key not in instance:
                    instance[key] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(validator_class, {"properties": set_defaults})


def _path(error: Any) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def validate(config: dict[str, Any], schema_path: str | Path) -> dict[str, Any]:
    """Validate a config against the schema, fill in defaults, and check cross-references.

    Returns a new dict; raises ConfigError naming the offending key and what was expected.
    """
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    schema = yaml.safe_load(Path(schema_path).read_text())
    cfg = copy.deepcopy(config)
    _check_sections(cfg, schema)
    _check_finite(cfg)
    _check_names(cfg)
    validator = _with_defaults(Draft202012Validator)(schema)
    errors = list(validator.iter_errors(cfg))
    # A misspelt key is the likeliest cause of every other error (a required key then looks missing): first.
    unknown = sorted((e for e in errors if _unknown_keys(e)), key=lambda e: [str(p) for p in e.absolute_path])
    # A bad value inside a kind's if/then also leaves that branch's keys "unevaluated"; report the value.
    specific = [e for e in errors if e.validator != "unevaluatedProperties"]
    error = unknown[0] if unknown else best_match(specific or errors)
    if error is not None:
        raise ConfigError(f"config key {_path(error)}: {_describe(error)}")
    resolve_variants(cfg)
    _check_values(cfg)
    _check_references(cfg)
    cfg = canonical(cfg, schema)
    method_variants(cfg)  # every generated method name is unique
    return expand_teacher_seeds(expand_student_variants(expand_dataset_draws(cfg)))


#: the lists an experiment is the product of; a design variant inherits those it does not give from its base
EXPERIMENT_SECTIONS = ("datasets", "teachers", "methods", "students")


def resolve_variants(cfg: dict[str, Any]) -> None:
    """Design variants (``variant_of: <experiment>``, ``varies: <text>``; docs/science.md#sensitivity): fill
    in, in place, each variant's lists it does not give from its base's, and refuse a variant whose base is
    unknown, itself a variant (no chains, hence no cycles) or the same design (no list differs), a variant
    without ``varies``, and ``varies`` without ``variant_of``. The variant is then checked like any other
    experiment, and its cells are the product of its lists: cells it shares with its base are trained once."""
    exps = cfg["experiments"]
    for name, e in exps.items():
        base = e.get("variant_of")
        if base is None:
            if "varies" in e:
                raise ConfigError(f"config key experiments.{name}.varies: only a design variant says what it varies; "
                                  f"add variant_of: <experiment> or remove varies")
            continue
        if base == name:
            raise ConfigError(f"config key experiments.{name}.variant_of: an experiment cannot be a variant of itself")
        if base not in exps:
            raise ConfigError(f"config key experiments.{name}.variant_of: {base!r} is not an experiment; defined: "
                              f"{sorted(exps)}")
        if "variant_of" in exps[base]:
            raise ConfigError(f"config key experiments.{name}.variant_of: {base!r} is itself a variant (of "
                              f"{exps[base]['variant_of']!r}); name a base experiment (variants of variants are "
                              f"not allowed, so every variant is compared with one default design)")
        if not str(e.get("varies", "")).strip():
            raise ConfigError(f"config key experiments.{name}.varies: a variant names the design choice it varies, "
                              f"in a few words the sensitivity table shows (e.g. varies: \"KD temperature τ = 1\")")
    for name, e in exps.items():
        base = e.get("variant_of")
        if base is None:
            continue
        for section in EXPERIMENT_SECTIONS:
            if section not in e:
                e[section] = list(exps[base][section])
        if all(set(e[s]) == set(exps[base][s]) for s in EXPERIMENT_SECTIONS):
            raise ConfigError(f"config key experiments.{name}: the variant lists the same {', '.join(EXPERIMENT_SECTIONS)} "
                              f"as its base {base!r}; a variant differs from its base in at least one list (name "
                              f"other entries of datasets/teachers/methods/students)")


def design_variants(cfg: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Variant experiment -> {"base": its base experiment, "varies": the choice it varies}, in name order."""
    return {e: {"base": x["variant_of"], "varies": x["varies"]}
            for e, x in sorted(cfg["experiments"].items()) if "variant_of" in x}


NESTED_HINT = ("if it came from --config: Snakemake passes nested values as strings; pass nested values in a config "
               "file (--configfile FILE)")


def _check_sections(cfg: dict[str, Any], schema: dict[str, Any]) -> None:
    """A string where a section's mapping belongs: what ``--config 'tables={...}'`` gives."""
    for key, value in cfg.items():
        sub = schema.get("properties", {}).get(key, {})
        if sub.get("type") == "object" and isinstance(value, str):
            raise ConfigError(f"config key {key}: got the string {value!r} where a mapping is expected; "
                              f"{NESTED_HINT}")


def _check_finite(node: Any, path: tuple[str, ...] = ()) -> None:
    """Every number in the config is finite (YAML's .inf and .nan pass the schema's bounds)."""
    if isinstance(node, dict):
        for k, v in node.items():
            _check_finite(v, (*path, str(k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _check_finite(v, (*path, str(i)))
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        try:
            ok = math.isfinite(float(node))
        except OverflowError:
            ok = False
        if not ok:
            raise ConfigError(f"config key {'.'.join(path) or '(top level)'}: {node!r} must be a finite number")


#: the longest name of a data set, teacher, method, student setup or experiment (names become directories)
MAX_NAME = 64
#: Snakemake refuses a wildcard value that ends in a piece repeated this many times or more (its
#: PeriodicityDetector, min_repeat=20: the regex ``((?P<value>.+)(?P=value){19,99})$``), to stop runaway recursion
PERIODIC_REPEATS = 20
_RESERVED = {"teachers": "'none' is reserved (the teacher of teacher-free methods)",
             "methods": "'none' is reserved (the teacher name of teacher-free methods, in result paths)"}


def periodic_suffix(name: str, repeats: int = PERIODIC_REPEATS) -> str | None:
    """The piece that ``name`` ends in, repeated ``repeats`` times or more (what Snakemake's periodic-wildcard
    check refuses), or None."""
    for period in range(1, len(name) // repeats + 1):
        piece = name[-period:]
        if name.endswith(piece * repeats):
            return piece
    return None


def _check_names(cfg: dict[str, Any]) -> None:
    """Names become wildcards and directories: at most MAX_NAME characters, not ending in a piece repeated
    20 times (Snakemake's periodic-wildcard check), and not the reserved 'none' for teachers and methods."""
    for section in ("datasets", "teachers", "methods", "students", "experiments"):
        entries = cfg.get(section)
        if not isinstance(entries, dict):
            continue
        for name in entries:
            if not isinstance(name, str):
                continue
            short = name if len(name) <= 40 else f"{name[:20]}…{name[-8:]}"
            if len(name) > MAX_NAME:
                raise ConfigError(f"config key {section}.{short}: the name is {len(name)} characters long; names may "
                                  f"have at most {MAX_NAME} (they become directory names in result paths)")
            piece = periodic_suffix(name)
            if piece is not None:
                raise ConfigError(f"config key {section}.{short}: the name ends in {piece!r} repeated "
                                  f"{PERIODIC_REPEATS} times or more, which Snakemake refuses in a wildcard value "
                                  f"(its periodic-wildcard check); shorten the repetition")
            if name == "none" and section in _RESERVED:
                raise ConfigError(f"config key {section}.none: {_RESERVED[section]}; choose another name")


def canonical(cfg: Any, schema: dict[str, Any]) -> Any:
    """``cfg`` (valid against ``schema``) with keys sorted at every level and every integer where the
    schema asks for a ``number`` turned into a float (``integer`` keys stay int)."""
    from jsonschema import Draft202012Validator

    defs = schema.get("$defs", {})

    def valid(instance: Any, sub: dict[str, Any]) -> bool:
        return Draft202012Validator({**sub, "$defs": defs}).is_valid(instance)

    def applicable(sub: Any, instance: Any) -> list[dict[str, Any]]:
        out, todo = [], [sub]
        while todo:
            s = todo.pop()
            if not isinstance(s, dict):
                continue
            if "$ref" in s:
                todo.append(defs[s["$ref"].rsplit("/", 1)[-1]])
            out.append(s)
            todo += s.get("allOf", [])
            todo += [b for b in s.get("oneOf", []) + s.get("anyOf", []) if valid(instance, b)]
            if "if" in s:
                todo.append(s.get("then", {}) if valid(instance, s["if"]) else s.get("else", {}))
        return out

    def walk(instance: Any, sub: Any) -> Any:
        subs = applicable(sub, instance)
        if isinstance(instance, dict):
            out = {}
            for k in sorted(instance):
                ks = [s["properties"][k] for s in subs if k in s.get("properties", {})]
                ks = ks or [s["additionalProperties"] for s in subs if isinstance(s.get("additionalProperties"), dict)]
                out[k] = walk(instance[k], {"allOf": ks})
            return out
        if isinstance(instance, list):
            items = [s["items"] for s in subs if isinstance(s.get("items"), dict)]
            return [walk(x, {"allOf": items}) for x in instance]
        if isinstance(instance, int) and not isinstance(instance, bool):
            types = {s.get("type") for s in subs}
            if "number" in types and "integer" not in types:
                return float(instance)
        return instance

    return walk(cfg, schema)


def sorted_dict(value: Any) -> Any:
    """``value`` with the keys of every dict in it sorted (the repr Snakemake compares is then canonical)."""
    if isinstance(value, dict):
        return {k: sorted_dict(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [sorted_dict(v) for v in value]
    return value


def _allowed_keys(error: Any) -> set[str]:
    """The keys the mapping of an additional/unevaluatedProperties error may have (its own kind's included)."""
    keys = set(error.schema.get("properties", {}))
    inst = error.instance if isinstance(error.instance, dict) else {}
    for branch in error.schema.get("allOf", []):  # the keys of the instance's own kind
        cond = branch.get("if", {}).get("properties", {})
        for field, default in (("kind", None), ("model", "mlp")):
            const = cond.get(field, {}).get("const")
            if const is not None and inst.get(field, default) == const:
                keys |= set(branch.get("then", {}).get("properties", {}))
        if "model" in cond and inst.get("model", "mlp") != cond["model"].get("const"):
            other = branch.get("else", {})
            keys |= set(other.get("properties", {}))
            if "$ref" in other or "else" in other:  # the deep-training keys, or a nested else
                keys |= _DEEP_KEYS
    return keys


def _unknown_keys(error: Any) -> list[str]:
    """The keys an additional/unevaluatedProperties error names that its mapping may not have at all (a bad
    value of an allowed key in a kind's branch leaves that key "unevaluated" too: that one is not unknown)."""
    if error.validator not in ("additionalProperties", "unevaluatedProperties") or not isinstance(error.instance, dict):
        return []
    allowed = _allowed_keys(error)
    return sorted(str(k) for k in error.instance if k not in allowed)


#: the deep-training keys of CNN teachers and students (the schema's $defs/deep_training)
_DEEP_KEYS = {"lr_milestones", "lr_decay", "augment", "normalize", "selection", "eval_batch_size"}


def _describe(error: Any) -> str:
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        allowed = sorted(_allowed_keys(error))
        unknown = _unknown_keys(error)
        if unknown:
            parts = []
            for k in unknown:
                close = difflib.get_close_matches(k, allowed, n=1)
                parts.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            return f"unknown key {', '.join(parts)}; allowed keys: {allowed}"
        extra = error.message.split("(")[-1].rstrip(")") if "(" in error.message else error.message
        hint = f"; allowed keys: {allowed}" if allowed else ""
        return f"unknown key(s) {extra}{hint}"
    if error.validator == "uniqueItems":
        items = list(error.instance)
        dup = next((x for i, x in enumerate(items) if x in items[:i]), None)
        return f"{dup!r} is listed twice in {items}; list each value once"
    if error.validator == "enum":
        return f"{error.instance!r} is not one of {error.validator_value}"
    if error.validator == "type" and isinstance(error.instance, str):
        return f"{error.message}; {NESTED_HINT}"
    return error.message


def _check_values(cfg: dict[str, Any]) -> None:
    """Domains the schema cannot state: a split's fractions sum to 1 with room for train and test, and a
    temperature survives the short form it has in names and paths."""
    for name, d in cfg["datasets"].items():
        if "split" in d:
            f = [float(x) for x in d["split"]]
            if abs(sum(f) - 1.0) > 1e-6:
                raise ConfigError(f"config key datasets.{name}.split: the train/val/test fractions {d['split']} "
                                  f"must sum to 1, they sum to {sum(f):g}")
            if f[0] <= 0 or f[2] <= 0:
                raise ConfigError(f"config key datasets.{name}.split: the train and test fractions must be "
                                  f"positive (no split may be empty but val), got {d['split']}")
        if d["kind"] == "synthetic":
            if d.get("classes", 2) > 2 and d["target"] != "relu":
                raise ConfigError(f"config key datasets.{name}.classes: {d['classes']} classes need target relu (the "
                                  f"arg-max of a random ReLU network's scores), got target {d['target']!r}")
            if d["target"] == "relu" and d["target_hidden"] % 2 and d.get("classes", 2) == 2:
                raise ConfigError(f"config key datasets.{name}.target_hidden: the relu target pairs its hidden units "
                                  f"(+1 and -1 output weights in equal numbers), so it needs an even number, got "
                                  f"{d['target_hidden']}")
            for split in ("n_train", "n_val", "n_test"):  # one point is one class: no classifier to train or test
                if d[split] == 1:
                    zero = " (or 0: no validation split)" if split == "n_val" else ""
                    raise ConfigError(f"config key datasets.{name}.{split}: a split of 1 point holds a single class; "
                                      f"give it at least 2 points{zero}")
            need = synthetic_memory(d)
            if need > MAX_DATA_BYTES:
                raise ConfigError(f"config key datasets.{name}.dim: building this data set would need about "
                                  f"{need / 2**30:.1f} GiB of memory (dim {d['dim']} × {_points(d)} points, and "
                                  f"the target's own samples); at most {MAX_DATA_BYTES / 2**30:.0f} GiB: lower dim or "
                                  f"n_train/n_val/n_test/fresh_sets")
        for split in ("max_train", "max_val", "max_test"):
            if d.get(split) == 1:
                raise ConfigError(f"config key datasets.{name}.{split}: a split of 1 point holds a single class; "
                                  f"give it at least 2 points (0 keeps them all)")


def check_raw_dirs(cfg: dict[str, Any]) -> None:
    """Each data set's ``raw_dir`` (relative: from the working directory) is a folder that holds the files its
    kind reads (``softlabels.data.raw``), so that a wrong folder is refused before any job, naming the key,
    not by Snakemake as a missing input. Apart from ``validate``: it looks at this machine's files, not at the
    config alone (the workflow and ``softlabels validate`` run both)."""
    for name in sorted({c.dataset for c in all_cells(cfg)}):
        _check_raw_dir(name, cfg["datasets"][name])


def _check_raw_dir(name: str, d: dict[str, Any]) -> None:
    from softlabels.data.raw import raw_paths
    from softlabels.registry import DATA_KINDS, raw_files

    if d.get("raw_dir") is None or DATA_KINDS[d["kind"]].source is None:
        return
    folder = Path(d["raw_dir"]).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"config key datasets.{name}.raw_dir: {str(folder)!r} is not a folder (relative paths are "
                          f"from the working directory); give the folder holding the raw files of kind "
                          f"{d['kind']!r}, or remove raw_dir to download them")
    missing = [Path(f).name for f in raw_paths(d["kind"], d["raw_dir"]) if not Path(f).is_file()]
    if missing:
        raise ConfigError(f"config key datasets.{name}.raw_dir: {str(folder)!r} lacks {missing}; a data set of kind "
                          f"{d['kind']!r} reads {list(raw_files(DATA_KINDS[d['kind']].source))} (gzipped files may "
                          f"be gunzipped; docs/real-data.md), or remove raw_dir to download them")


#: below this radius B, a theory student's logits stay within B of 0 (rows move at most B/sqrt(m), and
#: ||x|| <= 1): its probabilities stay at 1/2 within B, so it cannot learn anything its losses would show
TINY_RADIUS = 1e-3


def advisories(cfg: dict[str, Any]) -> list[str]:
    """Warnings, not refusals, for a validated config's settings that run but cannot mean anything: label
    noise at or above the chance level, a batch larger than the training set, a radius so small that the
    network cannot move, names that differ only in case. Each names its key."""
    out = []
    for name, d in cfg["datasets"].items():
        C = d.get("classes", 2)
        if d["kind"] == "synthetic" and d.get("label_noise", 0) >= (C - 1) / C:
            out.append(f"config key datasets.{name}.label_noise: {d['label_noise']:g} replaces each label of a "
                       f"{C}-class task with probability at or above the chance level {(C - 1) / C:g}: the labels "
                       f"carry no signal, and every method trains and tests at chance")
    for exp, e in sorted(cfg["experiments"].items()):
        for ds in e["datasets"]:
            n = training_size(cfg["datasets"][ds])
            for section in ("teachers", "students"):
                for t in e[section]:
                    b = cfg[section][t].get("batch_size", 0)
                    if n is not None and b > n and cfg[section][t].get("model") != "kernel":
                        out.append(f"config key {section}.{t}.batch_size: {b} is larger than the {n} training "
                                   f"points of data set {ds!r} (experiments.{exp}): every batch is the whole set, "
                                   f"as with batch_size 0 (full batch)")
    for name, st in cfg["students"].items():
        r = st.get("radius")
        if st.get("regime") == "theory" and isinstance(r, (int, float)) and r < TINY_RADIUS:
            out.append(f"config key students.{st.get('variant_of', name)}.radius: B = {r:g} keeps the student's "
                       f"logits within {r:g} of 0 (its rows move at most B/sqrt(m) from their initialisation): "
                       f"its probabilities stay at 1/2, and it cannot learn what its losses would show")
    for section in ("datasets", "teachers", "methods", "students", "experiments"):
        seen: dict[str, str] = {}
        for name in sorted(cfg[section]):
            other = seen.setdefault(name.casefold(), name)
            if other != name:
                out.append(f"config key {section}.{name}: differs from {section}.{other} only in case; on a "
                           f"case-insensitive file system (macOS, Windows) their result folders are one folder")
    return list(dict.fromkeys(out))


def training_size(d: dict[str, Any]) -> int | None:
    """The training split's size where the config alone says it (a synthetic data set's n_train, a
    max_train cap); None where it depends on the files."""
    if d["kind"] == "synthetic":
        return int(d["n_train"])
    return int(d["max_train"]) if d.get("max_train") else None


#: the most memory a synthetic data set may take to build (a config asking for more is refused, not killed)
MAX_DATA_BYTES = 16 * 2**30


def _points(d: dict[str, Any]) -> int:
    """Points a synthetic data set holds: its three splits and its fresh training sets."""
    return int(d["n_train"] + d.get("fresh_sets", 0) * (d.get("fresh_size") or d["n_train"]) + d["n_val"] + d["n_test"])


def synthetic_memory(d: dict[str, Any]) -> int:
    """Bytes a synthetic data set's generator holds at its peak, roughly (softlabels.data.synthetic): the kept
    points in float64 and their float32 copy, a batch of 4096 candidates (three float64 copies), and the relu
    target's 20,000 sphere samples (for its median)."""
    dim = int(d["dim"])
    peak = _points(d) * dim * 12 + 3 * 4096 * dim * 8
    if d.get("target") == "relu":
        peak = max(peak, 2 * 20000 * dim * 8)
    return peak


def _check_references(cfg: dict[str, Any]) -> None:
    for t in cfg["teachers"].values():  # a deep teacher's width defaults to its model's own
        if is_deep(t["model"]) and "width" not in t:
            t["width"] = MODELS[t["model"]].base_width
    for name, st in cfg["students"].items():
        if is_deep(st["model"]) and st["regime"] != "practical":
            raise ConfigError(f"config key students.{name}.regime: model {st['model']!r} is trained in the practical "
                              f"regime only, got {st['regime']!r}")
        if st["regime"] == "theory":
            bad = [w for w in st["widths"] if w % 2 or w < 2]
            if bad:
                raise ConfigError(f"config key students.{name}.widths: the theory regime's symmetric init "
                                  f"needs even widths >= 2, got {bad}")
        if st["replicates"] < 2:
            raise ConfigError(f"config key students.{name}.replicates: the bias-variance decomposition needs "
                              f"at least 2 replicates, got {st['replicates']}")
    for name, m in cfg["methods"].items():
        if m["kind"] in ("kd", "kd-filtered") and m.get("hard_weight") is None and m.get("alpha", 1.0) > 1:
            raise ConfigError(f"config key methods.{name}: alpha {m['alpha']} > 1 needs an explicit hard_weight "
                              f"(without it the hard-label weight is 1 - alpha, which would be negative)")
    for exp, e in cfg["experiments"].items():
        for section in ("datasets", "teachers", "methods", "students"):
            for ref in e[section]:
                if ref not in cfg[section]:
                    raise ConfigError(f"config key experiments.{exp}.{section}: {ref!r} is not defined under "
                                      f"{section}; defined: {sorted(cfg[section])}")
        _check_experiment_data(cfg, exp, e)
        auto = [m for m in e["methods"] if cfg["methods"][m].get("temperature") == AUTO]
        for ds in e["datasets"] if auto else ():
            if not has_validation_split(cfg["datasets"][ds]):
                raise ConfigError(f"config key experiments.{exp}: method {auto[0]!r} has temperature 'auto', chosen "
                                  f"on the teacher's validation NLL, but data set {ds!r} has no validation split "
                                  f"({_VAL_HINT.get(cfg['datasets'][ds]['kind'], 'see its kind')}); give it one or a numeric temperature")
        flat = [d for d in e["datasets"] if cfg["datasets"][d]["kind"] not in image_kinds()]
        for section in ("teachers", "students"):
            deep = [n for n in e[section] if is_deep(cfg[section][n]["model"])]
            if flat and deep:
                raise ConfigError(f"config key experiments.{exp}: the CNNs of {section} {deep} need image data sets "
                                  f"(kinds {list(image_kinds())}), but {flat} are flat vectors; use model 'mlp' for them")


def _check_experiment_data(cfg: dict[str, Any], exp: str, e: dict[str, Any]) -> None:
    """What an experiment's teachers and student setups need of its data sets: a validation split for early
    stopping (patience > 0), a fresh training set per replicate for resampling fresh, and the kernel target's
    values for a kernel teacher."""
    distils = any(cfg["methods"][m]["kind"] not in teacher_free_kinds() for m in e["methods"])
    teachers = e["teachers"] if distils else []  # teacher-free methods train no teacher
    for ds in e["datasets"]:
        d = cfg["datasets"][ds]
        if not has_validation_split(d):
            for section, names in (("teachers", teachers), ("students", e["students"])):
                for n in names:
                    patience = cfg[section][n].get("patience", 0)
                    if patience and cfg[section][n].get("model") != "kernel":
                        raise ConfigError(
                            f"config key {section}.{n}.patience: {patience} asks for early stopping on the validation "
                            f"split, but data set {ds!r} of experiments.{exp} has no validation split "
                            f"({_VAL_HINT.get(d['kind'], 'see its kind')}); give it one or set patience: 0")
        for n in e["students"]:
            st = cfg["students"][n]
            if st.get("resampling") == "fresh" and d.get("fresh_sets", 0) < st.get("replicates", 1):
                how = (f"it has fresh_sets {d.get('fresh_sets', 0)}: raise datasets.{ds}.fresh_sets to at least "
                       f"{st.get('replicates', 1)}" if d["kind"] == "synthetic" else
                       f"it is of kind {d['kind']!r}, and only synthetic data sets can draw fresh training sets "
                       f"(fresh_sets): use resampling bootstrap or disjoint for it")
                raise ConfigError(
                    f"config key students.{n}.resampling: fresh trains replicate r on fresh training set r of its "
                    f"data set, so each of its {st.get('replicates', 1)} replicates needs one, but data set {ds!r} "
                    f"of experiments.{exp} has too few: {how}")
        if d["kind"] != "synthetic" or d.get("target") != "kernel":
            for t in teachers:
                if cfg["teachers"][t].get("model") == "kernel":
                    what = f"target {d.get('target')!r}" if d["kind"] == "synthetic" else f"kind {d['kind']!r}"
                    raise ConfigError(
                        f"config key experiments.{exp}: teacher {t!r} (teachers.{t}.model: kernel) needs data sets "
                        f"with the kernel target (kind synthetic, target: kernel), whose values it returns, but "
                        f"data set "
                        f"{ds!r} has {what}; use another teacher for it or give it target: kernel")


#: a method's ``temperature: auto``: the teacher's τ* on its validation NLL (docs/science.md#teachers)
AUTO = "auto"
_VAL_HINT = {"synthetic": "set n_val > 0", "digits": "set split[1] > 0", "mnist1d": "set split[1] > 0",
             "mnist": "set val_fraction > 0",
             "cifar10-catdog": "set split[1] > 0", "cifar100": "set val_fraction > 0"}


def has_validation_split(d: dict[str, Any]) -> bool:
    """Whether a (validated) data set has a validation split."""
    kind = d["kind"]
    if kind == "synthetic":
        return d["n_val"] > 0
    if kind in ("digits", "mnist1d", "cifar10-catdog"):
        return float(d["split"][1]) > 0
    return float(d.get("val_fraction", 0)) > 0  # mnist, cifar100 (max_val 0 keeps them all)


def numeric_temperature(params: dict[str, Any]) -> float | None:
    """A method variant's temperature as a number; None for a method without one or with ``auto``."""
    t = params.get("temperature")
    return None if t is None or isinstance(t, str) else float(t)


class UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key written twice in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base`: its keys may be overridden
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: the base class reports it
                break
            if first is not None:
                raise ConfigError(f"{key_node.start_mark.name}, line {line}: key {key!r} is defined twice in the same "
                                  f"mapping (first at line {first}); a YAML mapping keeps only one, so remove or "
                                  f"rename one of them")
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            raw = yaml.load(fh, Loader=UniqueKeyLoader)  # a SafeLoader subclass
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory; give the config file (a YAML file) itself") from None
    except PermissionError:
        raise ConfigError(f"{path}: cannot be read (permission denied)") from None
    except UnicodeDecodeError as exc:
        bad = exc.object[exc.start:exc.start + 1]
        raise ConfigError(f"{path}: not a text file in UTF-8 (byte {exc.start}: {bad!r}); a config is a YAML "
                          f"file") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config must be a mapping of keys to values")
    return raw or {}


def load(path: str | Path, schema_path: str | Path) -> dict[str, Any]:
    return validate(read_yaml(path), schema_path)


def fmt_temperature(t: float | str) -> str:
    """How a temperature appears in names, paths and tables: 4.0 -> '4', 0.5 -> '0.5', 'auto' -> 'auto'."""
    return t if isinstance(t, str) else f"{float(t):g}"


def method_variants(cfg: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Method name -> params with a scalar temperature (a number, or ``auto``: the teacher's τ*, resolved by
    the student job); a temperature list expands to NAME-T<τ>."""
    out: dict[str, dict[str, Any]] = {}
    source: dict[str, str] = {}  # variant name -> where it comes from, for the clash message

    def add(variant: str, origin: str, params: dict[str, Any]) -> None:
        if variant in out:
            raise ConfigError(f"config key methods.{variant}: the name {variant!r} is given twice: by "
                              f"{source[variant]} and by {origin}; rename one (a sweep's variants are named "
                              f"NAME-T<τ>)")
        out[variant], source[variant] = params, origin

    for name, m in cfg["methods"].items():
        t = m.get("temperature")
        if isinstance(t, list):
            for tau in t:
                add(f"{name}-T{fmt_temperature(tau)}", f"the temperature sweep methods.{name} (τ = {tau!r})",
                    {**m, "temperature": float(tau)})
        else:
            add(name, f"method {name!r}", dict(m))
    return out


def radius_label(radius: float | str) -> str:
    """How a radius appears in student names and tables: 4.0 -> '4', 'auto' stays."""
    from softlabels.report.figplan import radius_string

    return radius_string(radius)


def _expand(cfg: dict[str, Any], section: str, entries: Callable[[str, dict[str, Any]], list[tuple[str, dict]]],
            named: str) -> dict[str, Any]:
    """``cfg`` with each entry of ``cfg[section]`` replaced by the (name, params) pairs ``entries`` gives it,
    and every experiment that names the entry naming those instead; a name given twice is refused (``named``:
    how the variants are named, for the message)."""
    out_entries: dict[str, Any] = {}
    source: dict[str, str] = {}
    expanded: dict[str, list[str]] = {}
    for name, entry in cfg[section].items():
        items = entries(name, entry)
        for variant, params in items:
            if variant in out_entries:
                raise ConfigError(f"config key {section}.{variant}: the name {variant!r} is given twice: by "
                                  f"{source[variant]} and by {section}.{name}; rename one ({named})")
            out_entries[variant], source[variant] = params, f"{section}.{name}"
        expanded[name] = [v for v, _ in items]
    out = dict(cfg)
    out[section] = {k: out_entries[k] for k in sorted(out_entries)}
    out["experiments"] = {e: {**x, section: [v for n in x[section] for v in expanded[n]]}
                          for e, x in cfg["experiments"].items()}
    return out


def expand_student_variants(cfg: dict[str, Any]) -> dict[str, Any]:
    """A student setup whose ``radius`` is a list becomes one setup per value, named <setup>-B<r> (the
    radius axis, docs/science.md#a-regimes), each with ``variant_of: <setup>``; the experiments that name
    the setup name its variants instead. Every other setup is left as it is (its name and slice unchanged)."""
    def entries(name: str, st: dict[str, Any]) -> list[tuple[str, dict]]:
        radii = st.get("radius")
        if not isinstance(radii, list):
            return [(name, st)]
        return [(f"{name}-B{radius_label(r)}", {**st, "radius": r, "variant_of": name}) for r in radii]

    return _expand(cfg, "students", entries, "a radius list's setups are named NAME-B<radius>")


def dataset_draw_name(name: str, draw: int) -> str:
    """The name of data set ``name``'s independent draw ``draw`` (``datasets.<name>.draws``): k-0.02, 1 ->
    'k-0.02-draw1'."""
    return f"{name}-draw{int(draw)}"


def expand_dataset_draws(cfg: dict[str, Any]) -> dict[str, Any]:
    """A synthetic data set with ``draws: K`` becomes K data sets, named <name>-draw<k> (k = 0 … K − 1), each
    generated from seed ``seed + k`` (its own target function and points) with ``draw_of: <name>`` and
    ``draw: k``; the experiments that name the data set name its draws instead (docs/science.md#a-draws).
    Every other data set is left as it is. The draws of different data sets that one experiment names must
    not share a seed (they would share a target function, and count as independent when they are not)."""
    def entries(name: str, d: dict[str, Any]) -> list[tuple[str, dict]]:
        k = d.get("draws")
        if k is None:
            return [(name, d)]
        base = {key: v for key, v in d.items() if key != "draws"}
        items = [(dataset_draw_name(name, i), {**base, "seed": int(d["seed"]) + i, "draw_of": name, "draw": i})
                 for i in range(int(k))]
        _check_expanded_names(items, f"datasets.{name}.draws", "draw's", "data set's")
        return items

    out = _expand(cfg, "datasets", entries, "a data set's draws are named NAME-draw<k>")
    for exp, e in out["experiments"].items():
        seen: dict[int, str] = {}
        for ds in e["datasets"]:
            d = out["datasets"][ds]
            if "draw_of" not in d:
                continue
            other = seen.setdefault(d["seed"], ds)
            if out["datasets"][other]["draw_of"] != d["draw_of"]:
                raise ConfigError(f"config key experiments.{exp}.datasets: {other} and {ds} are draws of different "
                                  f"data sets with the same seed {d['seed']} (seed + k for draw k), so they share a "
                                  f"target function; give the data sets seeds at least `draws` apart")
    return out


def _check_expanded_names(items: list[tuple[str, dict]], key: str, whose: str, base: str) -> None:
    """Refuse an expanded entry (a data set's draw, a teacher's seed) whose generated name is too long."""
    for variant, _ in items:
        if len(variant) > MAX_NAME:
            raise ConfigError(f"config key {key}: the {whose} name {variant!r} is {len(variant)} characters long; "
                              f"names may have at most {MAX_NAME} (shorten the {base} name)")


def dataset_draws(cfg: dict[str, Any]) -> dict[str, str]:
    """Draw data set (<name>-draw<k>, ``expand_dataset_draws``) -> the data set it is a draw of, in name order;
    empty when no data set has draws."""
    return {d: v["draw_of"] for d, v in sorted(cfg["datasets"].items()) if "draw_of" in v}


def teacher_seed_name(name: str, seed: int) -> str:
    """The name of teacher ``name``'s seed ``seed`` (``teachers.<name>.seeds``): wide, 1 -> 'wide-s1'."""
    return f"{name}-s{int(seed)}"


def expand_teacher_seeds(cfg: dict[str, Any]) -> dict[str, Any]:
    """A teacher with ``seeds: [k, ...]`` becomes one teacher per seed, named <teacher>-s<k>, each with
    ``seed_offset: k`` (its training stream: ``rules.teacher_replicate_id``) and ``variant_of: <teacher>``;
    the experiments that name the teacher name its seeds instead (as ``expand_student_variants`` does for a
    radius list). Every other teacher is left as it is (its name, slice and stream unchanged)."""
    def entries(name: str, t: dict[str, Any]) -> list[tuple[str, dict]]:
        seeds = t.get("seeds")
        if seeds is None:
            return [(name, t)]
        if t.get("model") == "kernel":
            raise ConfigError(f"config key teachers.{name}.seeds: the kernel-limit teacher (model: kernel) trains "
                              f"nothing, so its seeds would be one teacher several times; remove seeds")
        base = {k: v for k, v in t.items() if k != "seeds"}
        items = [(teacher_seed_name(name, k), {**base, "seed_offset": int(k), "variant_of": name}) for k in seeds]
        _check_expanded_names(items, f"teachers.{name}.seeds", "seed teacher's", "teacher's")
        return items

    return _expand(cfg, "teachers", entries, "a teacher's seeds are named NAME-s<seed>")


def teacher_seeds(cfg: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Seed teacher (<teacher>-s<k>, ``expand_teacher_seeds``) -> {'base': <teacher>, 'seed': k}, in name
    order; empty when no teacher has seeds."""
    return {t: {"base": v["variant_of"], "seed": v["seed_offset"]}
            for t, v in sorted(cfg["teachers"].items()) if "variant_of" in v}


def student_setup(cfg: dict[str, Any], name: str) -> tuple[str, str]:
    """A (validated) student setup's base setup and radius label: ('theory', '4') for theory-B4; a setup
    without a radius list is its own base; the label is '' outside the theory regime."""
    st = cfg["students"][name]
    label = radius_label(st["radius"]) if st.get("regime") == "theory" else ""
    return st.get("variant_of", name), label


def expand_method_names(cfg: dict[str, Any], names: list[str]) -> list[str]:
    variants = method_variants(cfg)
    out = []
    for n in names:
        t = cfg["methods"][n].get("temperature")
        out += [f"{n}-T{fmt_temperature(x)}" for x in t] if isinstance(t, list) else [n]
    assert all(v in variants for v in out)
    return out


@dataclass(frozen=True, order=True)
class Cell:
    """One student cell: R replicates of one (data set, teacher, method, student setup, width)."""

    dataset: str
    teacher: str
    method: str
    student: str
    width: int

    @property
    def path(self) -> str:
        return f"results/students/{self.dataset}/{self.teacher}/{self.method}/{self.student}/m{self.width}"


def experiment_cells(cfg: dict[str, Any]) -> dict[str, list[Cell]]:
    """Experiment name -> its cells. Teacher-free methods (hard, ls) use teacher 'none', so they are
    trained once per data set whatever the teachers listed."""
    variants = method_variants(cfg)
    out: dict[str, list[Cell]] = {}
    for exp, e in cfg["experiments"].items():
        cells: set[Cell] = set()
        for ds in e["datasets"]:
            for m in expand_method_names(cfg, e["methods"]):
                teachers = [NO_TEACHER] if variants[m]["kind"] in teacher_free_kinds() else e["teachers"]
                for t in teachers:
                    for st in e["students"]:
                        for w in cfg["students"][st]["widths"]:
                            cells.add(Cell(ds, t, m, st, w))
        out[exp] = sorted(cells)
    return out


def all_cells(cfg: dict[str, Any]) -> list[Cell]:
    return sorted({c for cells in experiment_cells(cfg).values() for c in cells})


# --- slices: what each rule reads --------------------------------------------------------------

def dataset_slice(cfg: dict[str, Any], name: str) -> dict[str, Any]:
    return sorted_dict(cfg["datasets"][name])


def download_slice(cfg: dict[str, Any], source: str, file: str) -> dict[str, Any]:
    """What the download rule needs for one raw file: its URL under the source's base_url, the SHA-256
    it must have (the config's ``downloads.<source>.sha256.<file>``, else the built-in one; None if
    neither) and, for the built-in checksum, the official size."""
    from softlabels.registry import SOURCES

    d, s = cfg["downloads"], cfg["downloads"][source]
    sha, size = s["sha256"].get(file), None
    if sha is None and file in SOURCES[source].files:
        sha, size = SOURCES[source].files[file]
    return sorted_dict({"url": s["base_url"].rstrip("/") + "/" + file, "sha256": sha.lower() if sha else None,
                        "size": size, "retries": d["retries"], "timeout": float(d["timeout"]),
                        "backoff": float(d["backoff"])})


#: keys of a student setup that its regime does not read (softlabels.training): the theory regime is full-batch
#: projected gradient descent (no optimizer, momentum, weight decay or batches); the practical regime and the
#: CNNs project nothing (no radius)
UNUSED_BY_REGIME = {"theory": ("optimizer", "momentum", "weight_decay", "batch_size"), "practical": ("radius",)}


def teacher_slice(cfg: dict[str, Any], name: str) -> dict[str, Any]:
    """A teacher's keys, the seed and the compute settings; of the kernel-limit teacher (``model: kernel``,
    which trains nothing and reads no key) only its model, so that editing keys it does not read re-runs nothing."""
    t = cfg["teachers"][name]
    if t["model"] == "kernel":
        return {"model": "kernel"}
    return sorted_dict({**t, "seed": cfg["seed"], "compute": cfg["compute"]})


def method_slice(cfg: dict[str, Any], variant: str) -> dict[str, Any]:
    return sorted_dict(method_variants(cfg)[variant])


def student_widths(cfg: dict[str, Any], name: str) -> list[int]:
    """A student setup's widths, each once, in increasing order (the order of its job's outputs)."""
    return sorted(set(cfg["students"][name]["widths"]))


def student_slice(cfg: dict[str, Any], name: str) -> dict[str, Any]:
    """A student setup without the keys its regime does not read (``UNUSED_BY_REGIME``). One MLP job trains
    every width of a setup, so its widths are part of its slice; a CNN job trains one width (its wildcard),
    so there they are not (adding a width runs only it)."""
    unused = ("widths", *UNUSED_BY_REGIME[cfg["students"][name]["regime"]])
    st = {k: v for k, v in cfg["students"][name].items() if k not in unused}
    if not is_deep(st["model"]):
        st["widths"] = student_widths(cfg, name)
    if st.get("radius") == "auto":  # the rule reads the run's smallest target error
        st["radius_epsilon"] = min(cfg["tables"]["epsilons"])
    return sorted_dict({**st, "seed": cfg["seed"], "compute": cfg["compute"]})

