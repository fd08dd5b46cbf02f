"""``python -m lit_translate`` is the same as ``lit-translate``."""

from lit_translate.cli import main

if __name__ == "__main__":
    main()
