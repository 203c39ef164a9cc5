"""Data for the book, read at run time from installed packages (never copied into the repo)."""
from .packages import DATA_PACKAGES, MissingDataError, package_dir
from .shakespeare import list_plays, load_shakespeare

__all__ = ["DATA_PACKAGES", "MissingDataError", "package_dir", "list_plays", "load_shakespeare"]
