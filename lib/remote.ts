/**
 * One way to run a command on the host: every remote command berth declares
 * goes through `RemoteScript`, so the rules hold everywhere:
 * - the script is data (lib/shell.ts) wrapped as `bash -c` (under `sudo -n`
 *   for a non-root SSH user), with the managed-by header as its first line;
 * - secrets only travel on stdin, and a command with stdin never logs and
 *   marks stdout/stderr as secret;
 * - no remote `environment` (it needs sshd AcceptEnv) and no previous output
 *   in the environment either;
 * - the connection pins the host key;
 * - what a delete does comes from lib/lifecycle.ts (`lifecycle(cfg,
 *   "command")`, a required argument): a retained command (production) has
 *   no delete script at all and is `retainOnDelete`, so neither `pulumi
 *   destroy` nor a replacement runs anything on the host for it.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { BerthConfig } from "./config";
import { Lifecycle } from "./lifecycle";
import { remote } from "./shell";

export type Connection = command.types.input.remote.ConnectionArgs;

/** The single SSH connection object reused by every command of a stack. */
export function connectionFor(cfg: Pick<BerthConfig, "host">): Connection {
    return {
        host: cfg.host.address,
        port: cfg.host.sshPort,
        user: cfg.host.sshUser,
        hostKey: cfg.host.hostKey,
        privateKey: cfg.host.privateKey === undefined ? undefined : pulumi.secret(cfg.host.privateKey),
        dialErrorLimit: 20,
        perDialTimeout: 15,
    };
}

export { managedBy, managedByHost } from "./managedBy";

export interface RemoteScriptArgs {
    connection: pulumi.Input<Connection>;
    /** bash script body (without `bash -c`) run on create. */
    create: pulumi.Input<string>;
    /** Script for updates; defaults to create (which must then be idempotent). */
    update?: pulumi.Input<string>;
    /**
     * Script undoing create, run on delete; undefined leaves the host as is.
     * Dropped when `lifecycle.retainOnDelete` is set.
     */
    delete?: pulumi.Input<string>;
    /**
     * `lifecycle(cfg, "command")`: on production `retainOnDelete`, which keeps
     * what create made when the resource goes away (`delete` is not
     * registered, `pulumi destroy` only forgets the resource).
     */
    lifecycle: Lifecycle;
    /** Secret material for the script, read with shell.readSecrets. */
    stdin?: pulumi.Input<string>;
    /** Inputs whose change means replace (create a new one, delete the old). */
    triggers?: pulumi.Input<any[]>;
    sudo: boolean;
}

export function remoteScript(
    name: string,
    args: RemoteScriptArgs,
    opts: pulumi.CustomResourceOptions,
): command.remote.Command {
    const wrap = (s: pulumi.Input<string> | undefined) =>
        s === undefined ? undefined : pulumi.output(s).apply((body) => remote(body, { sudo: args.sudo }));
    const secretBearing = args.stdin !== undefined;
    const keep = args.lifecycle.retainOnDelete === true;
    return new command.remote.Command(
        name,
        {
            connection: args.connection,
            create: wrap(args.create),
            update: wrap(args.update),
            delete: keep ? undefined : wrap(args.delete),
            stdin: args.stdin === undefined ? undefined : pulumi.secret(args.stdin),
            triggers: args.triggers,
            addPreviousOutputInEnv: false,
            logging: secretBearing ? "none" : "stdoutAndStderr",
        },
        {
            ...opts,
            retainOnDelete: keep || opts.retainOnDelete,
            additionalSecretOutputs: secretBearing ? ["stdout", "stderr"] : opts.additionalSecretOutputs,
        },
    );
}
