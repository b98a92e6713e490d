"""Device profiles: ``<name>.toml`` files (format in ``devices/README.md``).

The shipped profiles live in the repository's ``devices/`` folder, which is installed as the package
``edgekit.devices`` (read with :mod:`importlib.resources`, so a wheel carries them);
``$EDGEKIT_DEVICES`` names a folder of your own profiles instead. ``load_profile("armv7-lowend")``
or ``load_profile("path/to/phone.toml")`` returns a :class:`Profile`. Other stages import it to
name the device a result was measured on.
"""

from __future__ import annotations

import importlib.resources
import os
import tomllib
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from edgekit.errors import EdgekitError

DEFAULT_PROFILE = "armv7-lowend"
DEVICES_PACKAGE = "edgekit.devices"
DEVICES_ENV = "EDGEKIT_DEVICES"
# qemu CPU models that run the armv7 tflite-runtime wheel (it needs NEON + VFPv4);
# cortex-a8 / cortex-a9 die with SIGILL inside invoke (measured, ../shared/STACK.md). qemu 7.2's
# qemu-arm has no cortex-a53: "max" (ARMv8-A in AArch32: the a15 features plus the v8 AArch32
# instructions) stands for an A53 running 32-bit code (devices/armv7-a53.toml; measured to run it).
SUPPORTED_QEMU_CPUS = ("cortex-a7", "cortex-a15", "max")
_REQUIRED_PROPS = ("ro.product.cpu.abi", "ro.product.model", "ro.build.version.sdk")


def devices_dir() -> Traversable:
    """The folder holding the profiles: ``$EDGEKIT_DEVICES``, else the installed ``edgekit.devices``."""
    env = os.environ.get(DEVICES_ENV)
    if env:
        return Path(env)
    try:
        return importlib.resources.files(DEVICES_PACKAGE)
    except ModuleNotFoundError:
        raise EdgekitError(f"the shipped device profiles are not installed (no package {DEVICES_PACKAGE})",
                           hint=f"reinstall edgekit, or set {DEVICES_ENV} to a folder of profiles") from None


def _profile_files() -> dict[str, Traversable]:
    d = devices_dir()
    if not d.is_dir():
        return {}
    return {f.name[:-len(".toml")]: f for f in d.iterdir() if f.name.endswith(".toml") and f.is_file()}


@dataclass(frozen=True)
class Profile:
    name: str
    kind: str  # "emulated" or "real"
    description: str = ""
    qemu_cpu: str | None = None
    memory_mb: int | None = None
    cores: int | None = None
    properties: dict[str, str] = field(default_factory=dict)
    serial: str | None = None  # real phones: the adb serial that identifies it
    notes: str = ""
    path: Path | None = None  # the .toml file (None only for profiles not on a filesystem)
    cost_model: dict[str, Any] | None = field(default=None, repr=False)  # raw [cost_model] table: edgekit.costmodel
    data_mb: int | None = None  # emulated: /data/local/tmp is a tmpfs of this size (None: the device's disk)
    data_noexec: bool = False   # emulated: /data/local/tmp refuses execution (a phone's policy; needs data_mb)

    @property
    def is_emulated(self) -> bool:
        return self.kind == "emulated"

    def prop(self, key: str, default: str = "") -> str:
        return self.properties.get(key, default)

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "qemu_cpu": self.qemu_cpu,
            "memory_mb": self.memory_mb,
            "cores": self.cores,
            "data_mb": self.data_mb,
            "data_noexec": self.data_noexec,
            "serial": self.serial,
            "notes": self.notes,
            "properties": dict(self.properties),
        }


def list_profiles() -> list[str]:
    return sorted(_profile_files())


def _resolve(name_or_path: str | os.PathLike) -> Traversable:
    text = str(name_or_path)
    p = Path(text)
    if text.endswith(".toml") or os.sep in text:
        if p.is_file():
            return p
        raise EdgekitError(f"device profile {text} not found", hint="give a devices/*.toml file or a profile name")
    found = _profile_files().get(text)
    if found is not None:
        return found
    known = ", ".join(list_profiles()) or "none"
    env = os.environ.get(DEVICES_ENV)
    where = f"{DEVICES_ENV}={env}" if env else "the shipped profiles"
    if env and not Path(env).is_dir():
        hint = f"{DEVICES_ENV}={env} is not a folder: point it at a folder of <name>.toml files, or unset it"
    else:
        hint = f"add {text}.toml to {env or 'devices/'} (see devices/README.md), or give a .toml path"
    raise EdgekitError(f"unknown device profile {text!r} in {where} (known: {known})", hint=hint)


def load_profile(name_or_path: str | os.PathLike = DEFAULT_PROFILE) -> Profile:
    """Load and validate a device profile by name (``devices/<name>.toml``) or path."""
    source = _resolve(name_or_path)
    path = source if isinstance(source, Path) else None
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise EdgekitError(f"device profile {source} is not valid TOML: {exc}", hint="fix the file (see devices/README.md)")
    except OSError as exc:
        raise EdgekitError(f"cannot read device profile {source}: {exc.strerror or exc}")
    stem = source.name[:-len(".toml")] if source.name.endswith(".toml") else source.name
    name = str(data.get("name") or stem)
    kind = str(data.get("kind", "emulated"))
    if kind not in ("emulated", "real"):
        raise EdgekitError(f"device profile {source}: kind must be 'emulated' or 'real', not {kind!r}")
    props_raw = data.get("properties", {}) or {}
    if not isinstance(props_raw, dict):
        raise EdgekitError(f"device profile {source}: [properties] must be a table of \"key\" = \"value\"")
    props = {str(k): str(v) for k, v in props_raw.items()}
    emu = data.get("emulator", {}) or {}
    if not isinstance(emu, dict):
        raise EdgekitError(f"device profile {source}: [emulator] must be a table (qemu_cpu, memory_mb, cores)")
    qemu_cpu = emu.get("qemu_cpu")
    memory_mb = emu.get("memory_mb")
    cores = emu.get("cores", data.get("cores"))
    if kind == "emulated":
        if qemu_cpu not in SUPPORTED_QEMU_CPUS:
            raise EdgekitError(
                f"device profile {source}: emulator.qemu_cpu must be one of {', '.join(SUPPORTED_QEMU_CPUS)}, not {qemu_cpu!r}",
                hint="the armv7 TFLite runtime needs NEON + VFPv4",
            )
        if not isinstance(memory_mb, int) or isinstance(memory_mb, bool) or memory_mb < 64:
            raise EdgekitError(f"device profile {source}: emulator.memory_mb must be an integer >= 64")
        if not isinstance(cores, int) or isinstance(cores, bool) or cores < 1:
            raise EdgekitError(f"device profile {source}: emulator.cores must be a positive integer")
        data_mb = emu.get("data_mb")
        if data_mb is not None and (not isinstance(data_mb, int) or isinstance(data_mb, bool) or data_mb < 1):
            raise EdgekitError(f"device profile {source}: emulator.data_mb must be a positive integer (MB)")
        if not isinstance(emu.get("data_noexec", False), bool) or (emu.get("data_noexec") and data_mb is None):
            raise EdgekitError(f"device profile {source}: emulator.data_noexec must be true or false, and needs data_mb")
        missing = [k for k in _REQUIRED_PROPS if not props.get(k)]
        if missing:
            raise EdgekitError(f"device profile {source}: missing properties {', '.join(missing)}")
    else:
        if not data.get("serial"):
            raise EdgekitError(f"device profile {source}: a real phone needs serial = \"<adb serial>\"", hint="see `adb devices`")
    return Profile(
        name=name,
        kind=kind,
        description=str(data.get("description", "")),
        qemu_cpu=qemu_cpu,
        memory_mb=memory_mb,
        cores=cores,
        properties=props,
        serial=data.get("serial"),
        notes=str(data.get("notes", "")),
        path=path,
        cost_model=data.get("cost_model"),
        data_mb=emu.get("data_mb") if kind == "emulated" else None,
        data_noexec=bool(emu.get("data_noexec", False)) and kind == "emulated",
    )


def profile_for_serial(serial: str) -> Profile | None:
    """The real-phone profile whose ``serial`` matches, if one is described in devices/."""
    for name in list_profiles():
        try:
            p = load_profile(name)
        except EdgekitError:
            continue
        if p.kind == "real" and p.serial == serial:
            return p
    return None
