"""Device profiles (``*.toml``), shipped as the package ``edgekit.devices``.

The files live in the repository's top-level ``devices/`` folder; pyproject.toml maps that folder to
``edgekit.devices`` so a built wheel carries them. Read them with
``importlib.resources.files("edgekit.devices")`` (see ``edgekit.emulator.profiles``).
"""
