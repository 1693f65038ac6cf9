/**
 * AppUnits: what systemd needs to run the app, and nothing that decides
 * which release runs (that is the switch's job):
 *
 * - the env file `names.envFile` (mode 0600, root): the app's whole
 *   environment, secrets included. Its content only ever travels on the
 *   command's stdin; the script on the host is constant.
 * - the web template unit `<names.webUnit>.service` (instances `blue` and
 *   `green`, each reading the non-secret `slots/<instance>.env` the switch
 *   writes: PORT, REVISION) and, with `berth:workerCommand`, the worker unit.
 *
 * Neither command restarts anything: the switch receives `envHash` and
 * `unitsHash` and rolls the app onto the idle instance when either changes.
 */
import * as crypto from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { BerthConfig } from "../../lib/config";
import { lifecycle } from "../../lib/lifecycle";
import { Connection, managedBy, remoteScript } from "../../lib/remote";
import { NGINX_USER, PROTECT } from "../../lib/names";
import { appHardening, appServiceLines, sandboxTightening, shellExecStart, systemdQuote } from "../../lib/units/common";

export { PROTECT, shellExecStart, systemdQuote };
import { cmd, quote, retireUnit, script, writeFile } from "../../lib/shell";
import { webSocketOf } from "../../lib/units/webSocket";

/** What the builders read of the configuration: the stack, this app host and the release settings as it runs them. */
export const APP_UNITS_SCOPE = ["project", "stack", "production", "protect", "names", "host", "release"] as const;
export type AppUnitsScope = Pick<BerthConfig, (typeof APP_UNITS_SCOPE)[number]>;

/** The scope's settings (per host from lib/plan.ts: `host` is the host this runs on), then the resources. */
export interface AppUnitsArgs extends AppUnitsScope {
    /** This host's SSH connection (its Host's `connection`). */
    connection: pulumi.Input<Connection>;
    /**
     * The app's complete environment, already merged (DATABASE_URL,
     * REDIS_URL, SECRET_KEY_BASE, RAILS_ENV/RACK_ENV, RAILS_LOG_TO_STDOUT,
     * berth:env and berth:secretEnv). Treated as secret as a whole.
     */
    env: pulumi.Input<Record<string, string>>;
    /** Host steps that must be done first (app user, /etc/berth/<id>). */
    hostReady: pulumi.Input<pulumi.Resource>[];
}

export class AppUnits extends pulumi.ComponentResource {
    /** Writes the env file; builds, the release command and the units read it. */
    public readonly envFile: command.remote.Command;
    /** Writes the unit files and reloads systemd when they changed. */
    public readonly units: command.remote.Command;
    /** sha256 (hex) of the env file's content, not secret: the switch restarts on change. */
    public readonly envHash: pulumi.Output<string>;
    /** sha256 (hex) of the unit files' text. */
    public readonly unitsHash: pulumi.Output<string>;

    constructor(name: string, args: AppUnitsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:app:AppUnits", name, {}, opts);
        const cfg: AppUnitsScope = args;
        const { connection } = args;
        const sudo = cfg.host.sudo;

        const content = pulumi.secret(pulumi.output(args.env).apply((env) => envFileContent(cfg, env)));
        this.envFile = remoteScript(
            `${name}-env-file`,
            {
                connection,
                sudo,
                create: envFileScript(cfg),
                delete: envFileDeleteScript(cfg),
                lifecycle: lifecycle(cfg, "command"),
                stdin: content,
            },
            { parent: this, dependsOn: args.hostReady },
        );
        // A digest of the content, so the switch's script (and its stamp) can
        // change with the env file without the whole script becoming secret.
        this.envHash = pulumi.unsecret(content.apply(sha256));

        this.units = remoteScript(
            `${name}-units`,
            {
                connection,
                sudo,
                create: unitsScript(cfg),
                delete: unitsDeleteScript(cfg),
                lifecycle: lifecycle(cfg, "command"),
            },
            { parent: this, dependsOn: args.hostReady },
        );
        this.unitsHash = pulumi.output(unitsHash(cfg));

        this.registerOutputs({
            envFile: this.envFile.id,
            units: this.units.id,
            envHash: this.envHash,
            unitsHash: this.unitsHash,
        });
    }
}

// ---------------------------------------------------------------------------
// Pure builders (golden-tested, shellchecked, systemd-analyze verified)
// ---------------------------------------------------------------------------

export function sha256(text: string): string {
    return crypto.createHash("sha256").update(text, "utf8").digest("hex");
}

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The env file in systemd's EnvironmentFile= syntax (systemd.exec(5)): the
 * managed-by comment, then `KEY="value"` lines sorted by key. Inside double
 * quotes systemd (like a POSIX shell) unescapes `\"`, `\\`, `\$` and `` \` ``
 * and keeps everything else verbatim, so exactly those four are escaped and
 * the file means the same to systemd and to `set -a; . file` in bash.
 * Values must be single-line; errors name the key, never the value.
 */
export function envFileContent(cfg: Pick<BerthConfig, "project" | "stack">, env: Readonly<Record<string, string>>): string {
    const lines = [managedBy(cfg)];
    for (const key of Object.keys(env).sort()) {
        if (!ENV_KEY.test(key)) {
            throw new Error(`berth: ${JSON.stringify(key)} is not a valid environment variable name`);
        }
        const value = env[key];
        if (typeof value !== "string") throw new Error(`berth: the value of ${key} must be a string`);
        if (/[\n\r\0]/.test(value)) throw new Error(`berth: the value of ${key} must be a single line without NUL`);
        lines.push(`${key}="${value.replace(/[\\"$`]/g, (c) => `\\${c}`)}"`);
    }
    return lines.join("\n") + "\n";
}

/**
 * Reads the env file from stdin into a temp file next to it (umask 077),
 * checks the payload starts with the managed-by line (so an empty or
 * truncated stdin never replaces a good file), renames it into place when it
 * differs. Prints only `changed` or `unchanged`: never the content.
 */
export function envFileScript(cfg: AppUnitsScope): string {
    const n = cfg.names;
    return script(
        "umask 077",
        cmd("install", "-d", "-m", "0700", "-o", "root", "-g", "root", n.etc),
        `tmp=$(mktemp ${quote(`${n.envFile}.berth.XXXXXX`)})`,
        `trap 'rm -f "$tmp"' EXIT`,
        'cat > "$tmp"',
        `if [ "$(head -n 1 "$tmp")" != ${quote(managedBy(cfg))} ]; then echo 'berth: the env file did not arrive on stdin' >&2; exit 64; fi`,
        'chmod 0600 "$tmp"',
        'chown root:root "$tmp"',
        `if cmp -s "$tmp" ${quote(n.envFile)} && [ "$(stat -c '%a %U:%G' ${quote(n.envFile)})" = '600 root:root' ]; then`,
        "  echo unchanged",
        "else",
        `  mv -f "$tmp" ${quote(n.envFile)}`,
        "  echo changed",
        "fi",
    );
}

export function envFileDeleteScript(cfg: AppUnitsScope): string {
    return script(cmd("rm", "-f", cfg.names.envFile));
}

export function webUnitPath(cfg: AppUnitsScope): string {
    return `/etc/systemd/system/${cfg.names.webUnit}.service`;
}

export function workerUnitPath(cfg: AppUnitsScope): string {
    return `/etc/systemd/system/${cfg.names.workerUnit}.service`;
}

function unitText(cfg: AppUnitsScope, opts: { description: string; unit?: string[]; service: string[] }): string {
    return [
        managedBy(cfg),
        "[Unit]",
        `Description=${opts.description}`,
        "Wants=network-online.target",
        "After=network-online.target docker.service",
        ...(opts.unit ?? []),
        "",
        "[Service]",
        "Type=simple",
        ...opts.service,
        "Restart=on-failure",
        "RestartSec=2",
        "TimeoutStopSec=30",
        "KillMode=mixed",
        // The sandbox of every unit running the app's code (lib/units/common.ts).
        ...appHardening(cfg.names),
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ].join("\n");
}

/**
 * The web template unit; `%i` is the instance (`blue` or `green`). Its
 * working directory `slots/%i` is a symlink to the release the instance
 * runs, and `slots/%i.env` (PORT, REVISION) is written by the switch.
 * With `berth:webSocket: activation` it takes its socket from systemd
 * (lib/units/webSocket.ts).
 */
export function webUnitFile(cfg: AppUnitsScope): string {
    const n = cfg.names;
    const ws = webSocketOf(cfg);
    return unitText(cfg, {
        description: `berth ${n.id} web (%i)`,
        unit: ws.webUnitLines(n),
        service: [
            ...appServiceLines(n, `${n.root}/slots/%i`),
            `EnvironmentFile=${n.root}/slots/%i.env`,
            ...ws.webServiceLines(n),
            `ExecStart=${shellExecStart(ws.webCommand(cfg.release))}`,
            `SyslogIdentifier=${n.id}-web-%i`,
        ],
    });
}

export function proxySocketPath(cfg: AppUnitsScope): string {
    return `/etc/systemd/system/${cfg.names.proxyUnit}.socket`;
}

export function proxyServicePath(cfg: AppUnitsScope): string {
    return `/etc/systemd/system/${cfg.names.proxyUnit}.service`;
}

/**
 * The socket of an instance (template, `%i` = blue/green): nginx reaches the
 * serving instance through the symlink `names.webSocket`, which the switch
 * points at one of these. Only root and nginx's user may connect.
 */
export function proxySocketFile(cfg: AppUnitsScope): string {
    const n = cfg.names;
    return [
        managedBy(cfg),
        "[Unit]",
        `Description=berth ${n.id} web socket (%i)`,
        "",
        "[Socket]",
        `ListenStream=${n.runDir}/%i.sock`,
        ...webSocketOf(cfg).socketLines(n),
        `SocketGroup=${NGINX_USER}`,
        "SocketMode=0660",
        "DirectoryMode=0755",
        "RemoveOnStop=yes",
        "Backlog=1024",
        "",
        "[Install]",
        "WantedBy=sockets.target",
        "",
    ].join("\n");
}

/**
 * systemd-socket-proxyd (systemd's own, a well-kept tool: no code of ours
 * in the request path) from the instance's socket to its loopback port, so
 * any app that listens on 127.0.0.1:$PORT can be switched by a symlink. Bound
 * to the web instance: it stops with it.
 */
export function proxyServiceFile(cfg: AppUnitsScope): string {
    const n = cfg.names;
    return [
        managedBy(cfg),
        "[Unit]",
        `Description=berth ${n.id} web proxy (%i)`,
        `BindsTo=${n.webUnit}%i.service`,
        `After=${n.webUnit}%i.service`,
        "",
        "[Service]",
        `EnvironmentFile=${n.root}/slots/%i.env`,
        `ExecStart=${PROXYD} --connections-max=1024 127.0.0.1:\${PORT}`,
        "DynamicUser=yes",
        "PrivateNetwork=no",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        ...PROTECT,
        "MemoryDenyWriteExecute=yes",
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
        "SystemCallArchitectures=native",
        "UMask=0077",
        ...sandboxTightening(),
        "",
    ].join("\n");
}

/** systemd's socket proxy (Debian package systemd). */
const PROXYD = "/usr/lib/systemd/systemd-socket-proxyd";

/** The worker unit (only with `berth:workerCommand`); runs the current release. */
export function workerUnitFile(cfg: AppUnitsScope): string {
    const n = cfg.names;
    if (!cfg.release.workerCommand) throw new Error("berth: no worker command configured");
    return unitText(cfg, {
        description: `berth ${n.id} worker`,
        service: [
            ...appServiceLines(n),
            `ExecStart=${shellExecStart(cfg.release.workerCommand)}`,
            `SyslogIdentifier=${n.id}-worker`,
        ],
    });
}

/** sha256 over the unit files berth manages for this config. */
export function unitsHash(cfg: AppUnitsScope): string {
    return sha256([webUnitFile(cfg), cfg.release.workerCommand ? workerUnitFile(cfg) : "", proxySocketFile(cfg), proxyServiceFile(cfg)].join("\0"));
}

/**
 * Writes the unit files (only when they differ), removes a worker unit that
 * is no longer configured, and reloads systemd only when something changed.
 * Starting and restarting instances is the switch's job.
 */
export function unitsScript(cfg: AppUnitsScope): string {
    const worker = workerUnitPath(cfg);
    const workerUnit = `${cfg.names.workerUnit}.service`;
    return script(
        "changed=0",
        writeFile(webUnitPath(cfg), webUnitFile(cfg), { mode: "0644" }),
        writeFile(proxySocketPath(cfg), proxySocketFile(cfg), { mode: "0644" }),
        writeFile(proxyServicePath(cfg), proxyServiceFile(cfg), { mode: "0644" }),
        cfg.release.workerCommand
            ? writeFile(worker, workerUnitFile(cfg), { mode: "0644" })
            : [
                  `if [ -e ${quote(worker)} ]; then`,
                  `  ${retireUnit(quote(workerUnit))}`,
                  `  ${cmd("rm", "-f", worker)}`,
                  "  changed=1",
                  "fi",
              ],
        'if [ "$changed" = 1 ]; then',
        "  systemctl daemon-reload",
        "  echo 'berth: unit files updated'",
        "else",
        "  echo 'berth: unit files unchanged'",
        "fi",
    );
}

/** Destroy (non-production): stop and disable every instance and the worker, remove the files. */
export function unitsDeleteScript(cfg: AppUnitsScope): string {
    const n = cfg.names;
    const units = [`${n.proxyUnit}blue.socket`, `${n.proxyUnit}green.socket`, `${n.proxyUnit}blue.service`, `${n.proxyUnit}green.service`, `${n.webUnit}blue.service`, `${n.webUnit}green.service`, `${n.workerUnit}.service`];
    return script(
        // One at a time: systemctl refuses the whole list when one unit file is missing.
        `for unit in ${units.map(quote).join(" ")}; do ${retireUnit('"$unit"')}; done`,
        cmd("rm", "-f", webUnitPath(cfg), workerUnitPath(cfg), proxySocketPath(cfg), proxyServicePath(cfg)),
        "systemctl daemon-reload",
    );
}
