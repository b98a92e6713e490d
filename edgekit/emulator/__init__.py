"""The emulated 32-bit ARM Android device (issue 3).

Library API (used by the bench stage):

- ``ensure_running(profile="armv7-lowend", port=None) -> serial``: start or reuse a device.
- ``start(profile, port, host) -> Instance``, ``stop(port=None)``, ``status() -> list[dict]``.
- ``build_image(force=False, log=None)``: build the cached device image.
- ``load_profile(name_or_path) -> Profile``, ``list_profiles()``.

Everything heavy is imported lazily so that ``import edgekit.emulator`` stays cheap.

How it works: ``image`` builds a Debian armhf rootfs (cached by recipe key); ``daemon`` (one
detached process per device, ``control`` starts/stops it, ``instance`` reads what runs) owns a
private mount namespace with an overlay of that image and a memory cap (``memory_cap``: a cgroup,
else the RSS ``watchdog``), and speaks the device side of the ADB transport protocol
(``transport``; services ``shell_service`` and ``sync_service``); ``guest.guest_command`` is the one
place deciding how a device command runs on the host (route ``chroot``: binfmt_misc +
qemu-arm-static with the profile's ``QEMU_CPU``; ``counting`` adds the counted route).

Things to know:

- The device's root exists only inside the daemon's mount namespace
  (``nsenter -t <daemon pid> -m``); on the host ``~/.cache/edgekit/run/<port>/root`` is empty.
- A fresh adb server scans 127.0.0.1:5555..5585 and registers a device there as
  ``emulator-<port-1>``; ``ensure_running``/``start`` return that serial when adb already sees it
  that way instead of connecting a second transport.
- ``stop()`` without a port stops every emulated device of this machine (other sessions' too).
- Memory inside the device (``VmHWM``, ``ru_maxrss``) includes qemu's own overhead (~20 MB for a bare
  python3); ``VmPeak`` shows qemu's 4 GB guest address-space reservation.
- ``QEMU_RESERVED_VA`` (qemu 7.2 aborts) and ``RLIMIT_AS`` (qemu hangs) cannot cap memory; the cap
  is a memory cgroup, or an RSS-polling watchdog where no cgroup is writable.
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
    from edgekit.emulator import instance

    return instance.instances()


def build_image(force: bool = False, log=None):
    from edgekit.emulator import image

    return image.build_image(force=force, log=log)
