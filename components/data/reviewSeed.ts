/**
 * ReviewSeed: on a review stack (`berth:review.pr`, lib/config/review.ts),
 * its Postgres databases are restored once, at creation, from the latest
 * backup run of the stack it was copied from (`berth:review.source`,
 * staging), before the release command migrates them.
 *
 * It reuses the restore path of components/data/backup.ts: the same `rs`
 * (restic with the source stack's repository, its password and SFTP key
 * files, which staging's Backup already keeps root-only on this same data
 * host — a review stack runs on staging's hosts) and the same choice of the
 * latest run (`pickRunLines`, snapshots of the source stack's host id only).
 * Each database of that run the review stack also has (the generated stack
 * file keeps staging's database name, lib/review/stackFile.ts) is created
 * owned by the review stack's role and filled with `pg_restore --no-owner
 * --role=<role>`. A database that already exists is left alone, so the seed
 * never overwrites a migrated review database.
 *
 * The command also carries the review stack's facts as a trigger (`kind:
 * berth-review`: its number and the production hosts' addresses), which the
 * policy pack's `review-not-on-production` reads. Without
 * `berth:reviewSeed` (staging has no backups) it only records that.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { BerthConfig, BackupConfig } from "../../lib/config";
import { lifecycle } from "../../lib/lifecycle";
import { deriveNames } from "../../lib/names";
import { Connection, managedBy, remoteScript } from "../../lib/remote";
import { cmd, quote, retry, script } from "../../lib/shell";
import { appDatabases } from "../../lib/databases";
import { BackupScope, dbFromPathLines, pickRunLines, psqlFunction, resticFunction } from "./backup";

/** What the builders read of the configuration. */
export const REVIEW_SEED_SCOPE = ["project", "stack", "production", "protect", "names", "app", "host", "postgres", "database", "databases", "review", "reviewSeed"] as const;
export type ReviewSeedScope = Pick<BerthConfig, (typeof REVIEW_SEED_SCOPE)[number]>;

export interface ReviewSeedArgs extends ReviewSeedScope {
    /** The data host's SSH connection. */
    connection: pulumi.Input<Connection>;
    /** The review stack's Postgres container and role (the databases are created owned by it). */
    after: pulumi.Input<pulumi.Resource>[];
}

export class ReviewSeed extends pulumi.ComponentResource {
    /** Restores the source stack's latest backup run (create only). */
    public readonly command: command.remote.Command;
    /** What the release command waits for. */
    public readonly ready: pulumi.Resource[];

    constructor(name: string, args: ReviewSeedArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:data:ReviewSeed", name, {}, opts);
        const cfg: ReviewSeedScope = args;
        this.command = remoteScript(
            `${name}-restore`,
            {
                connection: args.connection,
                sudo: cfg.host.sudo,
                create: seedScript(cfg),
                delete: seedDeleteScript(cfg),
                triggers: [reviewTrigger(cfg)],
                lifecycle: lifecycle(cfg, "command"),
            },
            { parent: this, dependsOn: args.after },
        );
        this.ready = [this.command];
        this.registerOutputs({ command: this.command.id });
    }
}

/** The facts the policy pack reads (`review-not-on-production`). */
export function reviewTrigger(cfg: Pick<ReviewSeedScope, "app" | "stack" | "review">) {
    return { kind: "berth-review", app: cfg.app, stack: cfg.stack, pr: cfg.review?.pr ?? 0, source: cfg.review?.source ?? "staging", productionHosts: [...(cfg.review?.productionHosts ?? [])] };
}

/** The Backup scope that reads the source stack's repository from this host, into this stack's own restic cache. */
export function sourceBackupScope(cfg: ReviewSeedScope, seed: BackupConfig): BackupScope {
    const source = deriveNames(cfg.app, cfg.review?.source ?? "staging");
    return { ...cfg, names: { ...source, backupCache: cfg.names.backupCache }, backup: seed };
}

/** `berth-<id>-seed`: restores each of this stack's databases missing on its server from the source's latest run. */
export function seedScript(cfg: ReviewSeedScope): string {
    const me = `berth-${cfg.names.id}-seed`;
    const seed = cfg.reviewSeed;
    if (!seed || cfg.database !== "postgres") {
        return script(`# ${managedBy(cfg).slice(2)}`, `echo ${quote(`${me}: nothing to restore (the source stack has no backups): the release command prepares an empty database`)}`);
    }
    const src = sourceBackupScope(cfg, seed);
    const wanted = appDatabases(cfg).map((d) => d.postgres);
    return script(
        `# ${managedBy(cfg).slice(2)}`,
        "umask 077",
        'target="latest"',
        `wanted=(${wanted.map(quote).join(" ")})`,
        resticFunction(src),
        psqlFunction(cfg as BackupScope),
        retry(60, 2, cmd("docker", "exec", cfg.names.postgresContainer, "pg_isready", "-q", "-U", "postgres", "-h", "127.0.0.1")),
        pickRunLines(src, me),
        "seeded=0",
        'for line in "${picked[@]}"; do',
        '  id="${line%% *}"',
        '  path="${line#* }"',
        dbFromPathLines(me),
        '  case " ${wanted[*]} " in *" $db "*) ;; *) echo "' + me + ': $db is not a database of this stack; skipped"; continue ;; esac',
        `  if [ "$(pg -d postgres -v db="$db" <<<'SELECT count(*) FROM pg_database WHERE datname = :'"'"'db'"'"';')" != 0 ]; then echo "${me}: $db exists; left as it is"; continue; fi`,
        `  printf '%s\\n' 'CREATE DATABASE :"db" OWNER :"role";' | pg -d postgres -v db="$db" -v role=${quote(cfg.postgres.role)}`,
        `  rs dump "$id" "$path" | ${cmd("docker", "exec", "-i", cfg.names.postgresContainer, "pg_restore", "-U", "postgres", "--no-owner", "--no-privileges", `--role=${cfg.postgres.role}`, "--exit-on-error", "--single-transaction", "-d")} "$db"`,
        `  echo "${me}: $db restored from snapshot \${id:0:8}"`,
        "  seeded=$((seeded + 1))",
        "done",
        `echo "${me}: \${seeded} database(s) restored from run \${run#run:} of ${src.names.id}"`,
    );
}

/**
 * On destroy: this stack's own restic cache (the databases go with the role
 * and the container), and the directory of the web instances' sockets
 * (`names.runDir`), which systemd makes for the socket units and never
 * removes: a destroyed review stack leaves nothing on the host. (Every
 * stack's destroy leaves that empty tmpfs directory until a reboot; AppUnits'
 * delete is where it belongs for all of them, a change of every stack's
 * golden. Nothing recreates it once the units are gone, so the order of the
 * two deletes does not matter.)
 */
export function seedDeleteScript(cfg: Pick<ReviewSeedScope, "names">): string {
    return script(cmd("rm", "-rf", "--", path.posix.dirname(cfg.names.backupCache), cfg.names.runDir));
}
