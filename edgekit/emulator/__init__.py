"""The emulated 32-bit ARM Android device (issue 3).

Library API (used by the bench stage):

- ``ensure_running(profile="armv7-lowend", port=None) -> serial``: start or reuse a device.
- ``start(profile, port, host) -> Instance``, ``stop(port=None)``, ``status() -> list[dict]``.
- ``build_image(force=False, log=None)``: build the cached device image.
- ``load_profile(name_or_path) -> Profile``, ``list_profiles()``.

Everything heavy is imported lazily so that ``import edgekit.emulator`` stays cheap.
"""

from __future__ import annotations

from edgekit.emulator.profiles import DEFAULT_PROFILE, Profile, list_profiles, load_profile

__all__ = ["DEFAULT_PROFILE", "Profile", "list_profiles", "load_profile", "ensure_running", "start", "stop",
           "status", "build_image", "instances"]


def ensure_running(profile: str = DEFAULT_PROFILE, port: int | None = None) -> str:
    from edgekit.emulator import control

    return control.ensure_running(profile=profile, port=port)


def start(profile: str = DEFAULT_PROFILE, port: int | None = 5555, host: str = "127.0.0.1", log=None,
          private: bool = False):
    from edgekit.emulator import control

    return control.start(profile=profile, port=port, host=host, log=log, private=private)


def stop(port: int | None = None, log=None):
    from edgekit.emulator import control

    return control.stop(port=port, log=log)


def status() -> list[dict]:
    from edgekit.emulator import control

    return control.status()


def instances():
    from edgekit.emulator import control

    return control.instances()


def build_image(force: bool = False, log=None):
    from edgekit.emulator import image

    return image.build_image(force=force, log=log)
