"""Command line: ``nvr run``, ``nvr check-config``, ``nvr db upgrade``, ``nvr sim``,
``nvr user ...`` and ``nvr token ...`` (those two in :mod:`nvr.cli_accounts`)."""

from __future__ import annotations

import argparse
import logging
import sys

from nvr import cli_accounts, cli_export
from nvr.config import Config, ConfigError, load_config


class _CameraFilter(logging.Filter):
    """Every record gets a ``camera`` attribute ("-" outside a camera's code)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "camera"):
            record.camera = "-"
        return True


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(_CameraFilter())
    handler.setFormatter(logging.Formatter(
        "%(asctime)s %(levelname)-7s %(name)s [%(camera)s] %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _load(path: str) -> Config | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nvr", description="Network video recorder")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                        help="default: info (warning for user, token and export)")
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="record the cameras of a config and serve the API")
    p_run.add_argument("--config", default="config.toml")
    p_check = sub.add_parser("check-config", help="validate a config; exit 2 on problems")
    p_check.add_argument("--config", default="config.toml")
    p_db = sub.add_parser("db", help="database maintenance")
    p_db.add_argument("action", choices=["upgrade"])
    p_db.add_argument("--config", default="config.toml")
    sub.add_parser("sim", help="run simulated RTSP cameras (see nvr sim --help)",
                   add_help=False)
    cli_accounts.add_parsers(sub)
    cli_export.add_parser(sub)

    args, rest = parser.parse_known_args(argv)
    if args.command == "sim":
        from nvr.sim.main import main as sim_main

        return sim_main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    accounts = args.command in cli_accounts.COMMANDS
    quiet = accounts or args.command == cli_export.COMMAND
    setup_logging(args.log_level or ("warning" if quiet else "info"))
    config = _load(args.config)
    if config is None:
        return 2
    if accounts:
        return cli_accounts.run(args, config)
    if args.command == cli_export.COMMAND:
        return cli_export.run(args, config)
    if args.command == "check-config":
        print(f"{args.config}: ok ({len(config.cameras)} cameras)")
        return 0
    if args.command == "db":
        from nvr.db.session import upgrade

        upgrade(config.database_url)
        print("database is up to date")
        return 0
    from nvr.runtime import run

    return run(config, args.config)


if __name__ == "__main__":
    raise SystemExit(main())
