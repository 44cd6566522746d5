"""Benchmarks behind `skipclip bench`: each module defines HELP, add_arguments(parser), run(args)."""
