"""`python -m fastvrrp`: the same as the `fastvrrp` command."""

from fastvrrp.cli import main

if __name__ == "__main__":
    main(prog_name="fastvrrp")
