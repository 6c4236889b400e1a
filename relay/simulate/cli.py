"""The ``relay simulate`` command."""

from __future__ import annotations

import click

HELP = (
    "Serve stand-ins for Kie, TTAPI, AceData and Replicate: submit, status and callbacks as their docs describe, "
    "with switches to drop, delay, duplicate or fail callbacks. Point RELAY_<PROVIDER>_API_BASE at "
    "http://HOST:PORT/<provider> and submit with the relay's callback URL."
)


@click.command(help=HELP)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8900, show_default=True)
@click.option("--api-key", default="sim-key", show_default=True, help="The key the stand-ins accept.")
@click.option("--duration", "duration_s", type=float, default=5.0, show_default=True, help="Seconds per generation.")
@click.option(
    "--drop",
    type=click.Choice(["none", "progress", "final", "all"]),
    default="none",
    show_default=True,
    help="Callbacks never sent.",
)
@click.option("--delay", "delay_s", type=float, default=0.0, help="Seconds every callback is held back.")
@click.option("--duplicates", type=int, default=0, help="Extra copies of each final callback.")
@click.option("--fail-callbacks", type=int, default=0, help="Callback attempts lost on the way (retried per docs).")
@click.option("--fail-tasks", is_flag=True, help="Generations end failed.")
@click.option("--time-scale", type=float, default=1.0, show_default=True, help="Multiplies provider retry delays.")
def simulate(
    host: str,
    port: int,
    api_key: str,
    duration_s: float,
    drop: str,
    delay_s: float,
    duplicates: int,
    fail_callbacks: int,
    fail_tasks: bool,
    time_scale: float,
) -> None:
    import uvicorn

    from relay.simulate.app import SimConfig, Simulator, create_simulator_app

    config = SimConfig(
        api_key=api_key,
        duration_s=duration_s,
        drop=drop,
        delay_s=delay_s,
        duplicates=duplicates,
        fail_callbacks=fail_callbacks,
        fail_tasks=fail_tasks,
        time_scale=time_scale,
    )
    bases = f"http://{host}:{port}/{{kie,ttapi,acedata,replicate}}"
    click.echo(f"relay simulate: {bases}; switches at /_sim/config", err=True)
    uvicorn.run(create_simulator_app(Simulator(config)), host=host, port=port, log_level="warning")
