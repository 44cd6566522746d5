"""Benchmarks behind `skipclip bench`: each module ``NAME`` defines ``run(args)``; its flags and help
are ``skipclip.bench.flags.BENCHMARKS[NAME]``, which imports neither torch nor PyAV."""
