"""Built-in search spaces (TOML), read with importlib.resources."""
