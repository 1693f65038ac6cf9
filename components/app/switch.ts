/**
 * Switch: zero-downtime release. Two instances of the web template unit,
 * `blue` and `green`, on two loopback ports, each behind its own unix socket
 * (a systemd socket unit + systemd-socket-proxyd). nginx proxies to one
 * stable address, the symlink `names.webSocket`. A new release (or a new env
 * file, or new unit files) starts on the idle instance; only when its health
 * path answers 200 through its socket, asked with the headers nginx sends
 * for the primary domain (lib/proxy.ts), does the symlink move to it (one
 * atomic `mv -T`, no nginx reload: client connections are never closed; new
 * requests go to the new instance, requests in flight finish on the old one).
 * The old instance stays up, idle, for max(drain, rollback window) and is
 * then stopped by a transient systemd timer (after the drain only when
 * Solid Queue runs in Puma: `jobsInPuma`); a switch back inside that
 * window only moves the symlink. The worker and the process types of
 * berth:processes (components/app/processes.ts) restart on the new release. If
 * the new instance never becomes healthy it is stopped, traffic stays where
 * it was, and `pulumi up` fails with the release's name and its last log
 * lines. Every switch holds the host lock (lib/names.ts HOST_LOCK).
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { lifecycle } from "../../lib/lifecycle";
import { Connection, remoteScript } from "../../lib/remote";
import { prepareScript, stopScript, switchScript, type SwitchInputs, type SwitchScope } from "./switchScripts";

export * from "./switchScripts";



/** The scope's settings (per host from lib/plan.ts: `host` is the host this runs on), then the resources. */
export interface SwitchArgs extends SwitchScope {
    /** This host's SSH connection (its Host's `connection`). */
    connection: pulumi.Input<Connection>;
    /** Commit sha of the release to serve. */
    sha: string;
    /** sha256 of the env file: a change restarts the app on the idle instance. */
    envHash: pulumi.Input<string>;
    /** sha256 of the unit files: same. */
    unitsHash: pulumi.Input<string>;
    /** Everything that must be in place first: release command, units, the HTTPS site. */
    dependsOn: pulumi.Input<pulumi.Resource>[];
    /**
     * Multi-host, first phase: start and health-check the release on this
     * host without moving traffic (`prepare` command). The switch command
     * (`switchAfter`) then waits for every host's prepare.
     */
    prepare?: boolean;
    /** Multi-host: every host's prepare command; this host's switch waits for all of them. */
    switchAfter?: pulumi.Input<pulumi.Resource>[];
}

export class Switch extends pulumi.ComponentResource {
    /** Moves traffic (single host: also starts and checks the release). Multi-host: set by `switchAfter`. */
    public command!: command.remote.Command;
    /** Multi-host: starts and health-checks the release on this host, traffic untouched. */
    public readonly prepare?: command.remote.Command;
    private readonly switchArgs: SwitchArgs;
    private readonly switchName: string;

    constructor(name: string, args: SwitchArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:app:Switch", name, {}, opts);
        const cfg: SwitchScope = args;
        this.switchArgs = args;
        this.switchName = name;
        if (args.prepare) {
            this.prepare = remoteScript(
                `${name}-prepare`,
                {
                    connection: args.connection,
                    sudo: cfg.host.sudo,
                    create: this.inputs().apply((inp) => prepareScript(cfg, inp)),
                    lifecycle: lifecycle(cfg, "command"),
                },
                { parent: this, dependsOn: args.dependsOn },
            );
        } else {
            this.switchAfter([]);
        }
        this.registerOutputs({ sha: args.sha });
    }

    /**
     * Multi-host: declares this host's traffic move, after `after` (every
     * web host's prepare). Called once, by the environment.
     */
    public switchAfter(after: pulumi.Input<pulumi.Resource>[]): command.remote.Command {
        const cfg: SwitchScope = this.switchArgs;
        this.command = remoteScript(
            `${this.switchName}-switch`,
            {
                connection: this.switchArgs.connection,
                sudo: cfg.host.sudo,
                create: this.inputs().apply((inp) => switchScript(cfg, inp)),
                delete: stopScript(cfg),
                lifecycle: lifecycle(cfg, "command"),
            },
            { parent: this, dependsOn: [...this.switchArgs.dependsOn, ...(this.prepare ? [this.prepare] : []), ...after] },
        );
        return this.command;
    }

    /** The release, env and units this switch serves (the soak runs when they change). */
    public inputs(): pulumi.Output<SwitchInputs> {
        const sha = this.switchArgs.sha;
        return pulumi.all([this.switchArgs.envHash, this.switchArgs.unitsHash]).apply(([envHash, unitsHash]) => ({ sha, envHash, unitsHash }));
    }
}
