"""Data files shipped inside the package: `demo.yaml`, a copy of the repository's `profiles/demo.yaml`.

The copy is what `workbench` opens with no `--profile` outside a checkout of the project (see workbench/locations.py),
so the demo works from any directory after install. Regenerate it with `make sync-demo`; a test fails when the two
differ.
"""
