"""Profiles: the `ubm features` export, its float16 writer, the recipes and the entry validator."""
