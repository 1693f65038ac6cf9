/**
 * Backup: encrypted, off-host backups of the stack's Postgres (and, when
 * asked, its Redis volume) with restic (Debian's package: encryption,
 * deduplication, compression, retention and an SFTP back end, so berth writes
 * no backup format of its own).
 *
 * On the host that runs Postgres:
 *   names.backupEtc/        root-only (0700): `password` (restic repository
 *                           password), `ssh_key` (SFTP client key),
 *                           `known_hosts` (the SFTP server's pinned key).
 *                           The secrets arrive on stdin only.
 *   names.backupScript      `berth-<id>-backup [scheduled|release|manual] [sha]`:
 *                           `pg_dump -Fc` of every database the app role owns,
 *                           streamed into `restic backup --stdin`, one
 *                           snapshot per database, tagged berth, <stack>,
 *                           reason:<why>, run:<id> and sha:<sha>; a failed
 *                           dump forgets the whole run. A scheduled run then
 *                           applies the retention (`forget --prune`).
 *   names.restoreScript     `berth-<id>-restore [latest|<snapshot id>|sha:<sha>]`:
 *                           restores that run into a scratch database while
 *                           the app still serves, then stops the app, swaps
 *                           the scratch database in and starts the app again.
 *   names.restoreTestScript restores the latest run into scratch databases,
 *                           checks tables and row counts, drops them; fails
 *                           (exit 1, a failed unit) when anything is wrong.
 *   <backupUnit>.service/.timer, <restoreTestUnit>.service/.timer.
 *
 * The release command runs the backup script before migrating
 * (components/app/release.ts), so every migration has a snapshot named after
 * its release sha.
 *
 * Lifecycle (lib/lifecycle.ts `command`): on production nothing here is ever
 * deleted (scripts, units, timers and credentials survive `pulumi destroy`).
 * The off-host repository is never deleted by berth, on any stack.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { BackupConfig, BerthConfig } from "../../lib/config";
import { lifecycle } from "../../lib/lifecycle";
import { HOST_LOCK } from "../../lib/names";
import { Connection, managedBy, remoteScript } from "../../lib/remote";
import { osAptInstall } from "../../lib/os";
import { timerUnitFile } from "../../lib/units/common";
import { cmd, Lines, pinnedSshWords, quote, raw, readSecrets, retireUnit, script, secretsPayload, withShebang, writeFile } from "../../lib/shell";
import { knownHostsPattern } from "./dataServices";
import { appDatabases } from "../../lib/databases";

/** What the builders read of the configuration: the stack, the data host, the Postgres settings and `backup` (must be set). */
export const BACKUP_SCOPE = ["project", "stack", "production", "protect", "names", "app", "host", "postgres", "backup", "database", "databases"] as const;
export type BackupScope = Pick<BerthConfig, (typeof BACKUP_SCOPE)[number]>;

/** The scope's settings (per host from lib/plan.ts: `host` is the host this runs on), then the resources. */
export interface BackupArgs extends BackupScope {
    /** This host's SSH connection (its Host's `connection`). */
    connection: pulumi.Input<Connection>;
    /** Host steps that must be done first (packages, docker engine). */
    hostReady: pulumi.Input<pulumi.Resource>[];
}

/** Debian packages the backup needs on the host: restic itself and jq (reads `restic snapshots --json`). */
export const BACKUP_PACKAGES = ["restic", "jq"];

export class Backup extends pulumi.ComponentResource {
    /** Installs restic and jq. */
    public readonly packages: command.remote.Command;
    /** Writes the repository password, the SFTP key and the pinned known_hosts (root only, from stdin). */
    public readonly credentials: command.remote.Command;
    /** `restic init` when the repository does not exist yet; never deletes it. */
    public readonly repository: command.remote.Command;
    /** Installs the scripts and units and enables the timers. */
    public readonly scripts: command.remote.Command;
    /** What the release command waits for before it may back up (multi-host: the backup named after the release). */
    public readonly ready: pulumi.Resource[];
    /** Multi-host: the backup named after the release, taken before the release command. */
    public releaseBackup?: command.remote.Command;
    private readonly backupArgs: BackupArgs;
    private readonly backupName: string;

    constructor(name: string, args: BackupArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:data:Backup", name, {}, opts);
        const cfg: BackupScope = args;
        const b = requireBackup(cfg);
        const { connection } = args;
        const sudo = cfg.host.sudo;
        const keep = lifecycle(cfg, "command");

        this.packages = remoteScript(
            `${name}-packages`,
            { connection, sudo, create: backupPackagesScript(cfg), lifecycle: keep },
            { parent: this, dependsOn: args.hostReady },
        );
        this.credentials = remoteScript(
            `${name}-credentials`,
            {
                connection,
                sudo,
                create: credentialsScript(cfg),
                delete: credentialsDeleteScript(cfg),
                lifecycle: keep,
                stdin: pulumi.secret(secretsPayload([b.password, Buffer.from(b.privateKey.endsWith("\n") ? b.privateKey : `${b.privateKey}\n`).toString("base64")])),
            },
            { parent: this, dependsOn: [...args.hostReady, this.packages] },
        );
        this.repository = remoteScript(
            `${name}-repository`,
            { connection, sudo, create: repositoryInitScript(cfg), triggers: [backupTrigger(cfg)], lifecycle: keep },
            { parent: this, dependsOn: [this.credentials] },
        );
        this.scripts = remoteScript(
            `${name}-scripts`,
            { connection, sudo, create: installScript(cfg), delete: installDeleteScript(cfg), lifecycle: keep },
            { parent: this, dependsOn: [this.packages, this.repository] },
        );
        this.ready = [this.repository, this.scripts];
        this.backupArgs = args;
        this.backupName = name;
        this.registerOutputs({ repository: this.repository.id, scripts: this.scripts.id });
    }

    /**
     * Multi-host: the release command runs on a web host and the database is
     * here, so the backup named after the release is its own command on this
     * host, after `after` (every host's build); the release command waits for it.
     */
    public addReleaseBackup(sha: string, after: pulumi.Input<pulumi.Resource>[]): command.remote.Command {
        const cfg: BackupScope = this.backupArgs;
        this.releaseBackup = remoteScript(
            `${this.backupName}-before-release`,
            { connection: this.backupArgs.connection, sudo: cfg.host.sudo, create: script(releaseBackupLines(cfg, sha)), triggers: [sha], lifecycle: lifecycle(cfg, "command") },
            { parent: this, dependsOn: [...this.ready, ...after] },
        );
        return this.releaseBackup;
    }
}

// ---------------------------------------------------------------------------
// Pure builders (golden-tested, shellchecked, systemd-analyze verified)
// ---------------------------------------------------------------------------

function requireBackup(cfg: BackupScope): BackupConfig {
    if (!cfg.backup) throw new Error("berth: berth:backup is not configured");
    return cfg.backup;
}

/**
 * The trigger the policy pack reads (production stacks must have backups,
 * retention of at least 7 days). It replaces only the repository command,
 * which has no delete and whose create is idempotent.
 */
export function backupTrigger(cfg: BackupScope) {
    const b = requireBackup(cfg);
    return { kind: "berth-backup", app: cfg.app, stack: cfg.stack, production: cfg.production, repository: b.repository, retention: { ...b.retention } };
}

/** Days back the retention reaches (the longest of its daily, weekly and monthly reach). */
export function retentionDays(r: { daily: number; weekly: number; monthly: number }): number {
    return Math.max(r.daily, r.weekly * 7, r.monthly * 30);
}

/** The ssh command restic runs for the SFTP back end: only the pinned key, only our client key. */
export function sftpCommand(cfg: BackupScope): string {
    const b = requireBackup(cfg);
    const etc = cfg.names.backupEtc;
    return [
        ...pinnedSshWords(`${etc}/ssh_key`, `${etc}/known_hosts`, { noConfig: true }),
        "-o",
        "ConnectTimeout=15",
        "-o",
        "ServerAliveInterval=15",
        "-p",
        String(b.sftp.port),
        `${b.sftp.user}@${b.sftp.host}`,
        "-s",
        "sftp",
    ].join(" ");
}

export function knownHostsLine(cfg: BackupScope): string {
    const b = requireBackup(cfg);
    return `${knownHostsPattern(b.sftp.host, b.sftp.port)} ${b.hostKey}`;
}

/** `rs`: restic with the repository, the password file, the cache and the pinned SFTP connection. */
export function resticFunction(cfg: BackupScope): string {
    const b = requireBackup(cfg);
    const n = cfg.names;
    return `rs() { ${cmd("restic", "--repo", b.repository, "--password-file", `${n.backupEtc}/password`, "--cache-dir", n.backupCache, "-o", `sftp.command=${sftpCommand(cfg)}`)} "$@"; }`;
}

/** psql as the superuser inside the Postgres container (local socket), extra arguments appended. */
export function psqlFunction(cfg: BackupScope): string {
    return `pg() { ${cmd("docker", "exec", "-i", cfg.names.postgresContainer, "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-U", "postgres")} "$@"; }`;
}

/** Takes this stack's backup lock (a backup and a restore never overlap). */
function lockLines(cfg: BackupScope, what: string): string[] {
    return [
        `exec 9>${quote(cfg.names.backupLock)}`,
        `flock -w 3600 9 || { echo ${quote(`${what}: another backup or restore of ${cfg.names.id} is still running`)} >&2; exit 75; }`,
    ];
}

/** BACKUP_PACKAGES, and sqlite3 (its online backup, `.backup`) with berth:database sqlite. */
export function backupPackages(cfg: Pick<BackupScope, "database">): string[] {
    return cfg.database === "sqlite" ? [...BACKUP_PACKAGES, "sqlite3"] : BACKUP_PACKAGES;
}

export function backupPackagesScript(cfg: BackupScope): string {
    return script(
        osAptInstall(backupPackages(cfg), { lock: [`exec 8>${quote(HOST_LOCK)}`, "flock -w 600 8"] }),
        `restic version`,
        `echo ${quote(`berth: backup tools ready for ${cfg.names.id}`)}`,
    );
}

/**
 * Writes the repository password and the SFTP key (both from stdin, mode
 * 0600 in a 0700 root directory) and the pinned known_hosts; prints only
 * what changed, never a value.
 */
export function credentialsScript(cfg: BackupScope): string {
    const n = cfg.names;
    const etc = n.backupEtc;
    const put = (file: string, producer: string): string[] => [
        `tmp=$(mktemp ${quote(`${etc}/${file}.berth.XXXXXX`)})`,
        `${producer} > "$tmp"`,
        `chmod 0600 "$tmp"`,
        `if cmp -s "$tmp" ${quote(`${etc}/${file}`)}; then rm -f "$tmp"; else mv -f "$tmp" ${quote(`${etc}/${file}`)}; changed=1; fi`,
    ];
    return script(
        "umask 077",
        readSecrets("RESTIC_REPOSITORY_SECRET", "SFTP_KEY_B64"),
        `if [ "\${#RESTIC_REPOSITORY_SECRET}" -lt 16 ]; then echo 'berth: the repository password must be at least 16 characters' >&2; exit 64; fi`,
        cmd("install", "-d", "-m", "0700", "-o", "root", "-g", "root", n.etc),
        cmd("install", "-d", "-m", "0700", "-o", "root", "-g", "root", etc),
        cmd("install", "-d", "-m", "0700", "-o", "root", "-g", "root", n.backupCache),
        "changed=0",
        put("password", `printf '%s' "$RESTIC_REPOSITORY_SECRET"`),
        put("ssh_key", `printf '%s' "$SFTP_KEY_B64" | base64 -d`),
        writeFile(`${etc}/known_hosts`, `${knownHostsLine(cfg)}\n`, { mode: "0600" }),
        'if [ "$changed" = 1 ]; then echo "berth: backup credentials updated"; else echo "berth: backup credentials unchanged"; fi',
    );
}

/** Outside production only: forgets the credentials on the host (the repository stays). */
export function credentialsDeleteScript(cfg: BackupScope): string {
    return script(cmd("rm", "-rf", cfg.names.backupEtc, cfg.names.backupCache));
}

/** `restic init` unless the repository answers already (idempotent; never deletes). */
export function repositoryInitScript(cfg: BackupScope): string {
    const repo = requireBackup(cfg).repository;
    return script(
        resticFunction(cfg),
        "if rs cat config >/dev/null 2>&1; then",
        `  echo ${quote(`berth: restic repository ${repo} is ready`)}`,
        "else",
        "  rs init",
        `  echo ${quote(`berth: restic repository ${repo} initialised`)}`,
        "fi",
    );
}

/** The databases the app role owns, one per line (psql variable `role`). */
function ownedDatabasesSql(): string[] {
    return [
        "cat <<'SQL'",
        "SELECT d.datname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE r.rolname = :'role' AND NOT d.datistemplate ORDER BY 1;",
        "SQL",
    ];
}

/** Postgres: `pg_dump -Fc` of every database the app role owns, one snapshot each (sets failed, saved). */
function postgresDumpLines(cfg: BackupScope, me: string): string[] {
    const n = cfg.names;
    return [
        "# An assignment, not a process substitution: a failing psql (e.g. Postgres down) fails the backup.",
        `owned="$({ ${ownedDatabasesSql().join("\n")}\n} | pg -d postgres -v role=${quote(cfg.postgres.role)})"`,
        'mapfile -t dbs <<<"$owned"',
        "failed=0",
        "saved=0",
        'for db in "${dbs[@]}"; do',
        "  [ -n \"$db\" ] || continue",
        "  t0=$SECONDS",
        `  if ${cmd("docker", "exec", n.postgresContainer, "pg_dump", "-U", "postgres", "-Fc", "-Z0", "-d", raw('"$db"'))} | rs backup --host ${quote(n.id)} --stdin --stdin-filename "postgres-$db.dump" "\${tags[@]}" --tag "db:$db"; then`,
        `    echo "${me}: database $db saved in $((SECONDS - t0))s"`,
        "    saved=$((saved + 1))",
        "  else",
        `    echo "${me}: backing up database $db FAILED" >&2`,
        "    failed=1",
        "    break",
        "  fi",
        "done",
    ];
}

/** The installed backup script: `berth-<id>-backup [scheduled|release|manual] [sha]`. */
export function backupScriptFile(cfg: BackupScope): string {
    const b = requireBackup(cfg);
    const n = cfg.names;
    const me = `berth-${n.id}-backup`;
    const sqlite = cfg.database === "sqlite";
    return withShebang(
        script(
            `# ${managedBy(cfg).slice(2)}`,
            `# Usage: ${n.backupScript} [scheduled|release|manual] [sha]`,
            sqlite
                ? "# Copies every SQLite database (online backup: consistent under writes) into the restic repository (encrypted, off host)."
                : "# Dumps every database the app role owns into the restic repository (encrypted, off host).",
            "umask 077",
            'reason="${1:-manual}"',
            'sha="${2:-}"',
            `case "$reason" in scheduled | release | manual) ;; *) echo ${quote(`usage: ${n.backupScript} [scheduled|release|manual] [sha]`)} >&2; exit 64 ;; esac`,
            `if [ -n "$sha" ] && ! [[ "$sha" =~ ^[0-9a-f]{40}$ ]]; then echo ${quote(`${me}: the sha must be 40 hex digits`)} >&2; exit 64; fi`,
            lockLines(cfg, me),
            resticFunction(cfg),
            sqlite ? spoolLines(cfg) : psqlFunction(cfg),
            'run="$(date -u +%Y%m%dT%H%M%SZ)-$$"',
            `tags=(--tag berth --tag ${quote(cfg.stack)} --tag "reason:$reason" --tag "run:$run")`,
            'if [ -n "$sha" ]; then tags+=(--tag "sha:$sha"); fi',
            sqlite ? sqliteDumpLines(cfg, me) : postgresDumpLines(cfg, me),
            b.redis && [
                'if [ "$failed" = 0 ]; then',
                `  if ${cmd("docker", "exec", n.redisContainer, "tar", "-C", "/data", "-cf", "-", ".")} | rs backup --host ${quote(n.id)} --stdin --stdin-filename redis-data.tar "\${tags[@]}" --tag redis; then`,
                `    echo "${me}: redis volume saved"`,
                "  else",
                `    echo "${me}: backing up the redis volume FAILED" >&2`,
                "    failed=1",
                "  fi",
                "fi",
            ],
            b.storage && storageBackupLines(cfg, me),
            'if [ "$failed" = 1 ]; then',
            // By id: `forget --tag` without a keep policy removes nothing ("no policy was specified").
            `  partial="$(rs snapshots --json --tag "run:$run" 2>/dev/null | jq -r '.[].id' || true)"`,
            '  if [ -n "$partial" ]; then mapfile -t ids <<<"$partial"; rs forget "${ids[@]}" >/dev/null 2>&1 || true; fi',
            `  echo "${me}: FAILED; no snapshot of run $run is kept" >&2`,
            "  exit 1",
            "fi",
            'if [ "$saved" = 0 ]; then',
            `  echo ${quote(sqlite ? `${me}: no database file exists yet; nothing to back up` : `${me}: role ${cfg.postgres.role} owns no database yet; nothing to back up`)}`,
            "fi",
            'if [ "$reason" = scheduled ]; then',
            // --keep-within: every snapshot of the last days stays, the release ones (sha:<sha>) included,
            // so a code rollback can be paired with the data of that moment; older ones thin out.
            `  ${cmd("rs", "forget", "--host", n.id, "--tag", "berth", "--group-by", "host,paths", "--keep-within", `${Math.max(1, b.retention.daily)}d`, "--keep-daily", b.retention.daily, "--keep-weekly", b.retention.weekly, "--keep-monthly", b.retention.monthly, "--prune")}`,
            "fi",
            `echo "${me}: run $run done ($saved database(s), reason $reason\${sha:+, sha $sha})"`,
        ),
    );
}

/**
 * Lines that resolve "$target" (latest | snapshot id | sha:<sha>) to the
 * snapshots of one backup run: sets `run` and the array `picked` of
 * `<snapshot id> <path>` lines.
 */
export function pickRunLines(cfg: BackupScope, me: string): Lines {
    const host = quote(cfg.names.id);
    return [
        'case "$target" in',
        `  latest) run="$(rs snapshots --json --host ${host} --tag berth | jq -r 'sort_by(.time) | last // empty | .tags[] | select(startswith("run:"))')" ;;`,
        `  sha:*) [[ "$target" =~ ^sha:[0-9a-f]{40}$ ]] || { echo "${me}: $target is not sha:<40 hex digits>" >&2; exit 64; }`,
        `    run="$(rs snapshots --json --host ${host} --tag "berth,$target" | jq -r 'sort_by(.time) | last // empty | .tags[] | select(startswith("run:"))')" ;;`,
        `  *) [[ "$target" =~ ^[0-9a-f]{8,64}$ ]] || { echo "${me}: $target is not latest, a snapshot id or sha:<sha>" >&2; exit 64; }`,
        `    run="$(rs snapshots --json "$target" | jq -r '.[0].tags[]? | select(startswith("run:"))')" ;;`,
        "esac",
        `if [ -z "$run" ]; then echo "${me}: no berth snapshot matches $target" >&2; exit 1; fi`,
        `listing="$(rs snapshots --json --host ${host} --tag "$run" | jq -r '.[] | "\\(.id) \\(.paths[0])"')"`,
        'mapfile -t picked <<<"$listing"',
        `echo "${me}: using backup run \${run#run:} (\${#picked[@]} snapshot(s))"`,
    ];
}

/** Restores one database snapshot ("$id", "$db") into "$scratch" (dropped and created first). */
function restoreIntoScratchLines(cfg: BackupScope): string[] {
    const n = cfg.names;
    return [
        `printf '%s\\n' 'DROP DATABASE IF EXISTS :"scratch" WITH (FORCE);' 'CREATE DATABASE :"scratch" OWNER :"role";' | pg -d postgres -v scratch="$scratch" -v role=${quote(cfg.postgres.role)}`,
        `rs dump "$id" "$path" | ${cmd("docker", "exec", "-i", n.postgresContainer, "pg_restore", "-U", "postgres", "--exit-on-error", "--single-transaction", "-d", raw('"$scratch"'))}`,
    ];
}

/**
 * Validates a snapshot's path and sets `db`; skips other paths. A database
 * dump is `/postgres-<db>.dump`; snapshots an earlier berth took are
 * `/postgres/<db>.dump` (a directory in `--stdin-filename`, which restic
 * 0.18.0 — Debian 13's — refuses: restic#5324, fixed by restic#5356 after
 * that release), so both restore.
 */
export function dbFromPathLines(me: string): string[] {
    return [
        '  case "$path" in /postgres-*.dump | /postgres/*.dump) ;; *) continue ;; esac',
        '  db="${path#/postgres[-/]}"',
        '  db="${db%.dump}"',
        `  [[ "$db" =~ ^[A-Za-z0-9_-]{1,63}$ ]] || { echo "${me}: unexpected database name in $path" >&2; exit 1; }`,
    ];
}

/** The installed restore script: `berth-<id>-restore [latest|<snapshot id>|sha:<sha>]`. */
export function restoreScriptFile(cfg: BackupScope): string {
    if (cfg.database === "sqlite") return sqliteRestoreScriptFile(cfg);
    const n = cfg.names;
    const me = `berth-${n.id}-restore`;
    const storage = requireBackup(cfg).storage;
    const units = [`${n.webUnit}blue.service`, `${n.webUnit}green.service`, `${n.workerUnit}.service`];
    return withShebang(
        script(
            `# ${managedBy(cfg).slice(2)}`,
            `# Usage: ${n.restoreScript} [latest|<snapshot id>|sha:<release sha>]`,
            "# Restores every database of that backup run: each into a scratch database while the app",
            "# still serves, then the app is stopped, the scratch databases replace the live ones, and",
            "# the app is started again. A failure before the swap leaves the live databases untouched.",
            "umask 077",
            'target="${1:-latest}"',
            lockLines(cfg, me),
            resticFunction(cfg),
            psqlFunction(cfg),
            pickRunLines(cfg, me),
            storage && storagePickLines(),
            "restored=()",
            'for line in "${picked[@]}"; do',
            '  id="${line%% *}"',
            '  path="${line#* }"',
            dbFromPathLines(me),
            '  scratch="${db:0:40}__berth_restore"',
            `  echo "${me}: restoring $db from snapshot \${id:0:8} into $scratch"`,
            restoreIntoScratchLines(cfg).map((l) => `  ${l}`),
            '  restored+=("$db")',
            "done",
            `if [ "\${#restored[@]}" = 0 ]; then echo "${me}: the run holds no database" >&2; exit 1; fi`,
            storage && storageScratchLines(cfg, me),
            "active=()",
            `for unit in ${units.map(quote).join(" ")}; do`,
            '  if systemctl is-active --quiet "$unit"; then active+=("$unit"); fi',
            "done",
            `start_app() { if [ "\${#active[@]}" -gt 0 ]; then systemctl start "\${active[@]}"; echo "${me}: started \${active[*]}"; fi; }`,
            "trap start_app EXIT",
            `if [ "\${#active[@]}" -gt 0 ]; then systemctl stop "\${active[@]}"; echo "${me}: stopped \${active[*]}"; fi`,
            storage && storageSwapLines(cfg, me),
            'for db in "${restored[@]}"; do',
            '  scratch="${db:0:40}__berth_restore"',
            `  printf '%s\\n' 'DROP DATABASE IF EXISTS :"db" WITH (FORCE);' 'ALTER DATABASE :"scratch" RENAME TO :"db";' | pg -d postgres -v db="$db" -v scratch="$scratch"`,
            `  echo "${me}: database $db restored"`,
            "done",
            `echo "${me}: restored \${#restored[@]} database(s) from run \${run#run:}"`,
        ),
    );
}

/**
 * The installed restore test: `restic check`, then every database of the
 * latest run restored into a scratch database, which must hold at least one
 * table; each table's row count goes to the journal; the scratch databases
 * are dropped. Any failure exits 1 (a failed unit).
 */
export function restoreTestScriptFile(cfg: BackupScope): string {
    if (cfg.database === "sqlite") return sqliteRestoreTestScriptFile(cfg);
    const me = cfg.names.restoreTestUnit;
    return restoreTestFrame(cfg, {
        about: "Restores the latest backup run into scratch databases and checks them; exit 1 on any problem.",
        tools: [psqlFunction(cfg)],
        onExit: [
            'scratch=""',
            `cleanup() { if [ -n "$scratch" ]; then printf '%s\\n' 'DROP DATABASE IF EXISTS :"scratch" WITH (FORCE);' | pg -d postgres -v scratch="$scratch" || true; fi; }`,
            "trap cleanup EXIT",
        ],
        perSnapshot: [
            dbFromPathLines(me),
            '  scratch="${db:0:40}__berth_restore_test"',
            `  ( ${restoreIntoScratchLines(cfg).join(" && ")} ) || fail "snapshot \${id:0:8} of $db could not be restored"`,
            `  tables="$(pg -d "$scratch" -c "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")"`,
            '  [ "$tables" -gt 0 ] || fail "the restored $db holds no table"',
            "  counts=\"$({",
            "    cat <<'SQL'",
            "SELECT format('SELECT %L, count(*) FROM %I.%I', schemaname || '.' || tablename, schemaname, tablename) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1 \\gexec",
            "SQL",
            `  } | pg -d "$scratch" -F ' ')"`,
            "  rows=0",
            "  while read -r table count; do",
            `    [[ "$count" =~ ^[0-9]+$ ]] || fail "could not count the rows of $db.$table"`,
            `    echo "${me}: $db: $table: $count rows"`,
            "    rows=$((rows + count))",
            '  done <<<"$counts"',
            `  echo "${me}: $db: snapshot \${id:0:8} restores: $tables tables, $rows rows"`,
            `  printf '%s\\n' 'DROP DATABASE :"scratch" WITH (FORCE);' | pg -d postgres -v scratch="$scratch"`,
            '  scratch=""',
        ],
    });
}

/** What a restore test adds to `restoreTestFrame`. */
interface RestoreTestParts {
    /** The script's one-line description (its third comment line). */
    readonly about: string;
    /** Shell functions the test uses, defined before `fail`. */
    readonly tools: Lines;
    /** After `fail`: what is cleaned up on exit. */
    readonly onExit?: Lines;
    /** Run for each snapshot of the run (`id`, `path` set); `continue` skips one, falling through counts one database tested. */
    readonly perSnapshot: Lines;
}

/**
 * The installed restore test of either database kind: `restic check`, then
 * every snapshot of the latest run through `perSnapshot`; at least one
 * database must have been tested. Any failure (`fail`) exits 1, a failed unit.
 */
function restoreTestFrame(cfg: BackupScope, parts: RestoreTestParts): string {
    const n = cfg.names;
    const me = n.restoreTestUnit;
    return withShebang(
        script(
            `# ${managedBy(cfg).slice(2)}`,
            `# Usage: ${n.restoreTestScript}`,
            `# ${parts.about}`,
            "umask 077",
            "target=latest",
            lockLines(cfg, me),
            resticFunction(cfg),
            parts.tools,
            'fail() { echo "' + me + ': FAILED: $*" >&2; exit 1; }',
            parts.onExit,
            `rs check || fail "restic check found a damaged repository"`,
            pickRunLines(cfg, me),
            "tested=0",
            'for line in "${picked[@]}"; do',
            '  id="${line%% *}"',
            '  path="${line#* }"',
            parts.perSnapshot,
            "  tested=$((tested + 1))",
            "done",
            '[ "$tested" -gt 0 ] || fail "the latest run holds no database"',
            `echo "${me}: OK: $tested database(s) of run \${run#run:} restore"`,
        ),
    );
}

// ---------------------------------------------------------------------------
// SQLite (berth:database sqlite) and shared/storage (berth:backup.storage)

/**
 * The run's scratch directory (names.backupSpool), emptied now and on exit;
 * owned by the app user, who makes the SQLite copies (a root sqlite3 would
 * leave root-owned -wal/-shm files the app could not open).
 */
function spoolLines(cfg: BackupScope): string[] {
    const n = cfg.names;
    return [
        `spool=${quote(n.backupSpool)}`,
        'rm -rf "$spool"',
        cmd("install", "-d", "-m", "0700", "-o", n.user, "-g", n.user, raw('"$spool"')),
        `trap 'rm -rf "$spool"' EXIT`,
    ];
}

/** `sqlite3` as the app user (its files, its -wal/-shm), extra arguments appended. */
function sqliteAsApp(cfg: BackupScope): string {
    return `as_app_sqlite3() { ${cmd("runuser", "-u", cfg.names.user, "--", "sqlite3", "-batch", "-bail")} "$@"; }`;
}

/** The SQLite files of the app's databases, as `name file` words for a `while read` loop. */
function sqliteTable(cfg: BackupScope): string[] {
    return ["cat <<'DATABASES'", ...appDatabases(cfg).map((d) => `${d.name} ${d.sqliteFile}`), "DATABASES"];
}

/**
 * SQLite: each database file copied with SQLite's online backup
 * (`.backup`, consistent while the app writes, WAL included) into the
 * spool, checked (`PRAGMA quick_check`), then saved as one snapshot
 * (`/sqlite-<name>.sqlite3`, tagged db:<name>). A file that does not exist
 * yet is skipped (the release command's db:prepare makes it).
 */
function sqliteDumpLines(cfg: BackupScope, me: string): string[] {
    const n = cfg.names;
    return [
        sqliteAsApp(cfg),
        "failed=0",
        "saved=0",
        "while read -r db file; do",
        '  if [ ! -f "$file" ]; then echo "' + me + ': database $db ($file) does not exist yet; skipped"; continue; fi',
        "  t0=$SECONDS",
        '  copy="$spool/$db.sqlite3"',
        `  if as_app_sqlite3 "$file" ".backup '$copy'" && [ "$(as_app_sqlite3 "$copy" 'PRAGMA quick_check')" = ok ] && rs backup --host ${quote(n.id)} --stdin --stdin-filename "sqlite-$db.sqlite3" "\${tags[@]}" --tag "db:$db" <"$copy"; then`,
        `    echo "${me}: database $db saved in $((SECONDS - t0))s"`,
        "    saved=$((saved + 1))",
        '    rm -f "$copy"',
        "  else",
        `    echo "${me}: backing up database $db FAILED" >&2`,
        "    failed=1",
        "    break",
        "  fi",
        `done < <(${sqliteTable(cfg).join("\n")}\n)`,
    ];
}

/** tar arguments that leave the live SQLite files out of the storage archive (they are saved on their own). */
function storageExcludes(cfg: BackupScope): string[] {
    if (cfg.database !== "sqlite") return [];
    return appDatabases(cfg).flatMap((d) => {
        const f = `./${d.sqliteFile.slice(cfg.names.storageDir.length + 1)}`;
        return [f, `${f}-wal`, `${f}-shm`, `${f}-journal`].map((x) => `--exclude=${x}`);
    });
}

/**
 * shared/storage (Active Storage's local files) after the databases, in the
 * same run: one tar (`/storage.tar`, tagged storage). Every blob the dumps
 * refer to was written before them, so it is in the archive. tar's exit 1
 * (a file changed while read: an upload in progress) is not a failure.
 */
function storageBackupLines(cfg: BackupScope, me: string): string[] {
    const n = cfg.names;
    return [
        `if [ "$failed" = 0 ] && [ -d ${quote(n.storageDir)} ]; then`,
        `  if { ${cmd("tar", "-C", n.storageDir, "--numeric-owner", ...storageExcludes(cfg), "-cf", "-", ".")} || [ "$?" = 1 ]; } | rs backup --host ${quote(n.id)} --stdin --stdin-filename storage.tar "\${tags[@]}" --tag storage; then`,
        `    echo "${me}: storage (uploads) saved"`,
        "  else",
        `    echo "${me}: backing up storage FAILED" >&2`,
        "    failed=1",
        "  fi",
        "fi",
    ];
}

/**
 * Before the app stops: the run's `/storage.tar` (if any, "$storage_id")
 * extracted into a scratch directory beside shared/storage (same
 * filesystem: the swap is two renames). Sets `storage_new` (empty: no
 * storage in the run, storage is left as it is).
 */
function storageScratchLines(cfg: BackupScope, me: string): string[] {
    const n = cfg.names;
    const scratch = `${n.storageDir}.berth-restore`;
    return [
        'storage_new=""',
        'if [ -n "$storage_id" ]; then',
        `  storage_new=${quote(scratch)}`,
        '  rm -rf "$storage_new"',
        `  ${cmd("install", "-d", "-m", "0755", "-o", n.user, "-g", n.user, raw('"$storage_new"'))}`,
        '  rs dump "$storage_id" /storage.tar | tar -C "$storage_new" --numeric-owner -xpf -',
        `  echo "${me}: storage of snapshot \${storage_id:0:8} unpacked"`,
        "fi",
    ];
}

/** While the app is stopped: the unpacked storage replaces shared/storage (the old one is removed after). */
function storageSwapLines(cfg: BackupScope, me: string): string[] {
    const n = cfg.names;
    const old = `${n.storageDir}.berth-old`;
    return [
        'if [ -n "$storage_new" ]; then',
        `  rm -rf ${quote(old)}`,
        `  if [ -d ${quote(n.storageDir)} ]; then mv -T ${quote(n.storageDir)} ${quote(old)}; fi`,
        `  mv -T "$storage_new" ${quote(n.storageDir)}`,
        `  rm -rf ${quote(old)}`,
        `  echo "${me}: storage restored"`,
        "fi",
    ];
}

/** Sets `storage_id` to the run's storage snapshot (empty: none); call after pickRunLines. */
function storagePickLines(): string[] {
    return [
        'storage_id=""',
        'for line in "${picked[@]}"; do',
        '  if [ "${line#* }" = /storage.tar ]; then storage_id="${line%% *}"; fi',
        "done",
    ];
}

/** Validates a SQLite snapshot's path and sets `db` and `file` (the live file); skips other paths. */
function sqliteFromPathLines(cfg: BackupScope, me: string): string[] {
    return [
        '  case "$path" in /sqlite-*.sqlite3) ;; *) continue ;; esac',
        '  db="${path#/sqlite-}"',
        '  db="${db%.sqlite3}"',
        "  file=",
        "  while read -r name f; do",
        '    if [ "$name" = "$db" ]; then file="$f"; fi',
        `  done < <(${sqliteTable(cfg).join("\n")}\n)`,
        `  [ -n "$file" ] || { echo "${me}: $db in $path is not a database of berth:databases; skipped" >&2; continue; }`,
    ];
}

/** The restore script with berth:database sqlite: files, not databases (same usage and guarantees as Postgres'). */
function sqliteRestoreScriptFile(cfg: BackupScope): string {
    const n = cfg.names;
    const me = `berth-${n.id}-restore`;
    const units = [`${n.webUnit}blue.service`, `${n.webUnit}green.service`, `${n.workerUnit}.service`];
    const owner = quote(`${n.user}:${n.user}`);
    return withShebang(
        script(
            `# ${managedBy(cfg).slice(2)}`,
            `# Usage: ${n.restoreScript} [latest|<snapshot id>|sha:<release sha>]`,
            "# Restores every SQLite database of that backup run (and its storage, if it holds one): each is",
            "# downloaded and checked while the app still serves, then the app is stopped, the files replace",
            "# the live ones, and the app is started again. A failure before the swap leaves the live files untouched.",
            "umask 077",
            'target="${1:-latest}"',
            lockLines(cfg, me),
            resticFunction(cfg),
            spoolLines(cfg),
            sqliteAsApp(cfg),
            pickRunLines(cfg, me),
            storagePickLines(),
            "restored=()",
            "files=()",
            'for line in "${picked[@]}"; do',
            '  id="${line%% *}"',
            '  path="${line#* }"',
            sqliteFromPathLines(cfg, me),
            '  copy="$spool/$db.sqlite3"',
            `  echo "${me}: restoring $db from snapshot \${id:0:8}"`,
            `  rs dump "$id" "$path" >"$copy"`,
            `  chown ${owner} "$copy"`,
            `  [ "$(as_app_sqlite3 "$copy" 'PRAGMA integrity_check')" = ok ] || { echo "${me}: the copy of $db fails SQLite's integrity check" >&2; exit 1; }`,
            '  restored+=("$db")',
            '  files+=("$file")',
            "done",
            `if [ "\${#restored[@]}" = 0 ]; then echo "${me}: the run holds no database" >&2; exit 1; fi`,
            storageScratchLines(cfg, me),
            "active=()",
            `for unit in ${units.map(quote).join(" ")}; do`,
            '  if systemctl is-active --quiet "$unit"; then active+=("$unit"); fi',
            "done",
            `start_app() { rm -rf "$spool"; if [ "\${#active[@]}" -gt 0 ]; then systemctl start "\${active[@]}"; echo "${me}: started \${active[*]}"; fi; }`,
            "trap start_app EXIT",
            `if [ "\${#active[@]}" -gt 0 ]; then systemctl stop "\${active[@]}"; echo "${me}: stopped \${active[*]}"; fi`,
            storageSwapLines(cfg, me),
            'for i in "${!restored[@]}"; do',
            '  db="${restored[$i]}"',
            '  file="${files[$i]}"',
            `  ${cmd("install", "-d", "-m", "0755", "-o", n.user, "-g", n.user, n.storageDir)}`,
            // Same filesystem as the live file, then one rename; a stale -wal/-shm would be replayed onto the restored file.
            `  ${cmd("install", "-m", "0640", "-o", n.user, "-g", n.user, raw('"$spool/$db.sqlite3"'), raw('"$file.berth-restore"'))}`,
            '  rm -f "$file-wal" "$file-shm" "$file-journal"',
            '  mv -f "$file.berth-restore" "$file"',
            `  echo "${me}: database $db restored"`,
            "done",
            `echo "${me}: restored \${#restored[@]} database(s) from run \${run#run:}"`,
        ),
    );
}

/** The restore test with berth:database sqlite: integrity check, tables and row counts of each copy; storage listed. */
function sqliteRestoreTestScriptFile(cfg: BackupScope): string {
    const n = cfg.names;
    const me = n.restoreTestUnit;
    return restoreTestFrame(cfg, {
        about: "Restores the latest backup run's SQLite databases into scratch files and checks them; exit 1 on any problem.",
        tools: [spoolLines(cfg), sqliteAsApp(cfg)],
        perSnapshot: [
            '  if [ "$path" = /storage.tar ]; then',
            '    entries="$(rs dump "$id" /storage.tar | tar -tf - | wc -l)" || fail "the storage of snapshot ${id:0:8} could not be read"',
            `    echo "${me}: storage: snapshot \${id:0:8} restores: $entries entries"`,
            "    continue",
            "  fi",
            sqliteFromPathLines(cfg, me),
            '  copy="$spool/$db.sqlite3"',
            `  rs dump "$id" "$path" >"$copy" || fail "snapshot \${id:0:8} of $db could not be restored"`,
            `  chown ${quote(`${n.user}:${n.user}`)} "$copy"`,
            `  [ "$(as_app_sqlite3 "$copy" 'PRAGMA integrity_check')" = ok ] || fail "the restored $db fails SQLite's integrity check"`,
            `  tables="$(as_app_sqlite3 "$copy" "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")"`,
            '  [ "$tables" -gt 0 ] || fail "the restored $db holds no table"',
            "  rows=0",
            "  while read -r table; do",
            `    count="$(as_app_sqlite3 "$copy" "SELECT count(*) FROM \\"$table\\"")"`,
            `    [[ "$count" =~ ^[0-9]+$ ]] || fail "could not count the rows of $db.$table"`,
            `    echo "${me}: $db: $table: $count rows"`,
            "    rows=$((rows + count))",
            `  done < <(as_app_sqlite3 "$copy" "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1")`,
            `  echo "${me}: $db: snapshot \${id:0:8} restores: $tables tables, $rows rows"`,
            '  rm -f "$copy"',
        ],
    });
}

export function unitPath(unit: string, suffix: "service" | "timer"): string {
    return `/etc/systemd/system/${unit}.${suffix}`;
}

/** A oneshot service running one installed script (started by its timer, or by hand). */
function oneshotServiceFile(cfg: BackupScope, what: string, execStart: string, unit: string): string {
    return [
        managedBy(cfg),
        "[Unit]",
        `Description=berth ${cfg.names.id}: ${what}`,
        "Wants=network-online.target",
        "After=network-online.target docker.service",
        "",
        "[Service]",
        "Type=oneshot",
        `ExecStart=${execStart}`,
        "Nice=10",
        "IOSchedulingClass=best-effort",
        "IOSchedulingPriority=7",
        `SyslogIdentifier=${unit}`,
        "",
    ].join("\n");
}

/** A timer starting the service of the same name; Persistent: a run missed while the host was down happens at boot. */
function timerFile(cfg: BackupScope, what: string, onCalendar: string): string {
    return timerUnitFile(cfg, `berth ${cfg.names.id}: ${what}`, [`OnCalendar=${onCalendar}`, "Persistent=true"]);
}

export function backupServiceFile(cfg: BackupScope): string {
    return oneshotServiceFile(cfg, "encrypted off-host backup of the database", `${cfg.names.backupScript} scheduled`, cfg.names.backupUnit);
}

export function backupTimerFile(cfg: BackupScope): string {
    return timerFile(cfg, "scheduled database backup", requireBackup(cfg).schedule);
}

export function restoreTestServiceFile(cfg: BackupScope): string {
    return oneshotServiceFile(cfg, "restore test of the latest database backup", cfg.names.restoreTestScript, cfg.names.restoreTestUnit);
}

export function restoreTestTimerFile(cfg: BackupScope): string {
    return timerFile(cfg, "scheduled restore test", requireBackup(cfg).restoreTestSchedule);
}

/** Every file the install step writes: path -> [content, mode]. */
export function backupFiles(cfg: BackupScope): Record<string, [string, string]> {
    const n = cfg.names;
    return {
        [n.backupScript]: [backupScriptFile(cfg), "0700"],
        [n.restoreScript]: [restoreScriptFile(cfg), "0700"],
        [n.restoreTestScript]: [restoreTestScriptFile(cfg), "0700"],
        [unitPath(n.backupUnit, "service")]: [backupServiceFile(cfg), "0644"],
        [unitPath(n.backupUnit, "timer")]: [backupTimerFile(cfg), "0644"],
        [unitPath(n.restoreTestUnit, "service")]: [restoreTestServiceFile(cfg), "0644"],
        [unitPath(n.restoreTestUnit, "timer")]: [restoreTestTimerFile(cfg), "0644"],
    };
}

/** Writes the scripts and units (only when they differ) and enables both timers. */
export function installScript(cfg: BackupScope): string {
    const n = cfg.names;
    return script(
        "changed=0",
        Object.entries(backupFiles(cfg)).map(([path, [content, mode]]) => writeFile(path, content, { mode })),
        'if [ "$changed" = 1 ]; then systemctl daemon-reload; echo "berth: backup scripts and units updated"; else echo "berth: backup scripts and units unchanged"; fi',
        cmd("systemctl", "enable", "--now", "--quiet", `${n.backupUnit}.timer`, `${n.restoreTestUnit}.timer`),
    );
}

/** Outside production only: stops the timers, removes scripts and units. Never touches the repository. */
export function installDeleteScript(cfg: BackupScope): string {
    const n = cfg.names;
    return script(
        `for unit in ${[`${n.backupUnit}.timer`, `${n.backupUnit}.service`, `${n.restoreTestUnit}.timer`, `${n.restoreTestUnit}.service`].map(quote).join(" ")}; do ${retireUnit('"$unit"')}; done`,
        cmd("rm", "-f", ...Object.keys(backupFiles(cfg))),
        "systemctl daemon-reload",
    );
}

/** The line the release command runs before migrating (components/app/release.ts). */
export function releaseBackupLines(cfg: Pick<BackupScope, "names">, sha: string): string[] {
    const n = cfg.names;
    return [
        `echo ${quote(`berth: backing up the database before the release command of ${sha}`)}`,
        `if ! ${cmd(n.backupScript, "release", sha)}; then`,
        `  echo ${quote(`berth: the backup before the release command of ${sha} FAILED: the release command did not run and traffic stays on the current release`)} >&2`,
        "  exit 1",
        "fi",
    ];
}
