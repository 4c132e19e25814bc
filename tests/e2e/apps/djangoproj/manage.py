#!/usr/bin/env python
# Django's generated manage.py, unmodified apart from the settings name.
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
