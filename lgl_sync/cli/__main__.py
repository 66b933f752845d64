"""``python -m lgl_sync.cli``: the same as the ``lgl-sync`` command."""

from lgl_sync.cli import main

main()
