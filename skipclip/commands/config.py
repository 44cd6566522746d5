"""`skipclip config`: print the resolved configuration (preset or YAML file, then --set) as YAML."""

HELP = "print the resolved configuration (a preset or YAML file with --set overrides) as YAML"
DESCRIPTION = (
    "Load a preset (cpu, cpu-real, paper) or a YAML file (`base: NAME` in it starts from a preset), "
    "apply --set KEY=VALUE overrides (values parsed as YAML), "
    "validate every value as a run would, and print the result as YAML: what pretrain, finetune and "
    "evaluate would run with. The output is itself a valid --config file."
)


def add_arguments(p):
    from skipclip.commands.flags import add_set_argument, preset_help

    p.add_argument("--config", default="cpu", help=preset_help())
    add_set_argument(p)


def run(args) -> int:
    import yaml

    from skipclip.config import load_config, parse_sets

    cfg = load_config(args.config, sets=parse_sets(args.set))
    print(yaml.safe_dump(cfg.to_dict(), sort_keys=False), end="")
    return 0
