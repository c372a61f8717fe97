"""`consensus keys …` and `consensus models …`: API keys and model settings for the terminal's local
workspace. The terminal user (the OS user) is the admin of that workspace. A key is read from a hidden
prompt or from standard input, never from an argument: arguments show in process lists and history."""

from __future__ import annotations

import getpass
import json
import sys
from typing import TYPE_CHECKING

import click

from bot.cli_base import EXIT_FAILED, EXIT_OK, TERMINAL, load_settings, run, with_core
from core.domain import Actor, Merging

if TYPE_CHECKING:
    from bot.wiring import Core
    from core.keys import KeyInfo, KeyScope
    from core.settings import ModelSettings, Spending

SCOPE = click.Choice(["user", "workspace"])


def terminal_actor() -> Actor:
    return Actor(TERMINAL, getpass.getuser(), is_admin=True)


def read_key(label: str) -> str:
    """From a hidden prompt on a terminal, else the first line of standard input."""
    if sys.stdin.isatty():
        return str(click.prompt(f"{label} API key (input hidden)", hide_input=True))
    return sys.stdin.readline().strip()


def describe(info: KeyInfo) -> str:
    scope = "team" if info.scope == "workspace" else "yours"
    used = info.last_used_at.strftime("%Y-%m-%d %H:%M UTC") if info.last_used_at else "never used"
    state = "" if info.readable else "  UNREADABLE: set it again"
    return f"{info.provider:<12} {scope:<6} {info.hint:<8} {used}{state}"


@click.group()
def keys() -> None:
    """API keys stored (encrypted) for this terminal's workspace: yours, or the team's."""


@keys.command("set")
@click.argument("provider")
@click.argument("extra", nargs=-1, metavar="")
@click.option(
    "--scope",
    type=SCOPE,
    default="user",
    show_default=True,
    help="user: only your questions use it; workspace: everyone's here.",
)
@click.option("--check", is_flag=True, help="First try the key with a cheap call; a rejected key is not stored.")
def keys_set(provider: str, extra: tuple[str, ...], scope: KeyScope, check: bool) -> None:
    """Store a key for PROVIDER, read from a hidden prompt or standard input (never an argument)."""
    if extra:  # refuse a key given as an argument, without repeating it
        raise click.UsageError(
            "the key is read from a hidden prompt or standard input, never from an argument "
            "(arguments show in process lists and shell history). Revoke a key you typed there."
        )
    settings = load_settings()

    async def work(core: Core) -> int:
        from core.errors import KeyRejectedError

        actor = terminal_actor()
        if provider not in core.service.key_providers():
            raise click.UsageError(f"keys can be set for: {', '.join(core.service.key_providers())}")
        label = core.service.keys.label(provider)
        key = read_key(label)
        try:
            info, verdict = (
                await core.service.set_checked_key(actor, provider, key, scope)
                if check
                else (await core.service.set_key(actor, provider, key, scope), "")
            )
        except KeyRejectedError as exc:
            click.echo(str(exc), err=True)
            return EXIT_FAILED
        whose = "the team's" if info.scope == "workspace" else "your"
        click.echo(f"Stored {whose} {label} key {info.hint}." + (f" {verdict}" if verdict else ""))
        return EXIT_OK

    sys.exit(run(lambda: with_core(settings, work)))


@keys.command("list")
@click.option("--json", "as_json", is_flag=True)
def keys_list(as_json: bool) -> None:
    """Provider, scope, hint and last use of each key; never the key."""
    settings = load_settings()

    async def work(core: Core) -> None:
        found = await core.service.list_keys(terminal_actor())
        if as_json:
            click.echo(
                json.dumps(
                    [
                        {
                            "provider": k.provider,
                            "scope": k.scope,
                            "hint": k.hint,
                            "last_used_at": k.last_used_at.isoformat() if k.last_used_at else None,
                            "readable": k.readable,
                        }
                        for k in found
                    ],
                    ensure_ascii=False,
                )
            )
        elif not found:
            click.echo("No keys stored; the operator's keys from the environment pay for every answer.")
        for info in [] if as_json else found:
            click.echo(describe(info))

    run(lambda: with_core(settings, work))


@keys.command("delete")
@click.argument("provider")
@click.option("--scope", type=SCOPE, default="user", show_default=True)
def keys_delete(provider: str, scope: KeyScope) -> None:
    """Forget the stored key for PROVIDER."""
    settings = load_settings()

    async def work(core: Core) -> None:
        deleted = await core.service.delete_key(terminal_actor(), provider, scope)
        click.echo("Deleted." if deleted else f"No {scope} key for {provider} was stored.")

    run(lambda: with_core(settings, work))


@keys.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every stored key with the first of CONSENSUS_ENCRYPTION_KEYS (all workspaces)."""
    settings = load_settings()

    async def work(core: Core) -> None:
        report = await core.service.rotate_keys()
        click.echo(f"Re-encrypted {report.rotated} key(s) with the first encryption key.")
        if report.unreadable:
            click.echo(
                f"{report.unreadable} key(s) could not be decrypted with any configured key and were "
                "left as they are; their owners must set them again.",
                err=True,
            )

    run(lambda: with_core(settings, work))


def print_settings(current: ModelSettings, channel: str | None, spending: Spending | None = None) -> None:
    click.echo("workspace default: " + (", ".join(current.models) or "the configured models"))
    if channel:
        click.echo(f"channel {channel}: " + (", ".join(current.channel_models or ()) or "workspace default"))
    budget = "none" if current.daily_budget_usd is None else f"${current.daily_budget_usd:,.2f}"
    rate = "none" if current.questions_per_minute is None else str(current.questions_per_minute)
    click.echo(f"daily budget: {budget}; questions per minute per user: {rate}")
    from adapters.presenter.cost import spending_line, threshold_words  # when it prints: `--help` stays fast

    click.echo(f"confirm before asking: {threshold_words(current.confirm_above_usd)}")
    if spending is not None:
        click.echo(spending_line(spending))
    from adapters.presenter.card import MERGING_WORDS  # when it prints: `--help` stays fast

    merger = current.merger or "the default merger"
    click.echo(f"merging: {MERGING_WORDS[current.merging]}; merged by {merger}")


@click.group(invoke_without_command=True)
@click.option("--channel", default=None, help="Also show this channel's override.")
@click.pass_context
def models(ctx: click.Context, channel: str | None) -> None:
    """The models that answer, where each is reached, and this workspace's choice and limits."""
    if ctx.invoked_subcommand is not None:
        return
    settings = load_settings()
    if not settings.models:
        click.echo("No models configured. Set CONSENSUS_MODELS, e.g. anthropic/claude-sonnet-4-5,openai/gpt-5-mini")
        return
    configs = settings.provider_configs()
    for model_id in settings.models:
        config = configs[model_id.partition("/")[0]]
        key = "key set" if config.api_key else "no key"
        click.echo(f"{model_id:<40} {config.display_name:<12} {config.base_url or 'default URL'} ({key})")
    if settings.consensus_reviewer:
        click.echo(f"judge: {settings.consensus_reviewer}")
    click.echo(f"merger: {settings.merger or 'the top-ranked answer’s model'}")

    async def work(core: Core) -> None:
        current = await core.service.model_settings(TERMINAL, channel)
        print_settings(current, channel, await core.service.spending(TERMINAL))

    run(lambda: with_core(settings, work))


@models.command("set")
@click.argument("chosen", nargs=-1, metavar="[PROVIDER/MODEL]...")
@click.option("--channel", default=None, help="Override for one channel only; no models drops the override.")
def models_set(chosen: tuple[str, ...], channel: str | None) -> None:
    """Choose which configured models answer here (at most 8); no models: back to the default."""
    settings = load_settings()

    async def work(core: Core) -> None:
        print_settings(await core.service.set_models(terminal_actor(), chosen, channel), channel)

    run(lambda: with_core(settings, work))


@models.command("merging")
@click.argument("when", type=click.Choice([m.value for m in Merging]))
@click.option(
    "--merger", default=None, metavar="PROVIDER/MODEL", help="The model that merges; default: the operator's."
)
def models_merging(when: str, merger: str | None) -> None:
    """When questions get a merged answer: off, request (the Merge action) or auto (after every question)."""
    settings = load_settings()

    async def work(core: Core) -> None:
        print_settings(await core.service.set_merging(terminal_actor(), Merging(when), merger), None)

    run(lambda: with_core(settings, work))


@models.command("limits")
@click.option("--budget", type=click.FloatRange(min=0), default=None, help="Daily budget in USD.")
@click.option("--per-minute", type=click.IntRange(min=1), default=None, help="Questions per minute per user.")
@click.option(
    "--confirm-above",
    type=click.FloatRange(min=0),
    default=None,
    metavar="USD",
    help="Confirm a question first when its estimate is above this; left out: never.",
)
def models_limits(budget: float | None, per_minute: int | None, confirm_above: float | None) -> None:
    """Set the limits (an option left out goes back to the operator's default), then show them with
    what the workspace has spent today (UTC)."""
    settings = load_settings()

    async def work(core: Core) -> None:
        actor = terminal_actor()
        await core.service.set_limits(actor, daily_budget_usd=budget, questions_per_minute=per_minute)
        current = await core.service.set_confirmation(actor, confirm_above)
        print_settings(current, None, await core.service.spending(TERMINAL))

    run(lambda: with_core(settings, work))
