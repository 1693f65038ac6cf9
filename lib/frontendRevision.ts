/**
 * The frontend's commit (`berth:frontend.revision`), resolved where pulumi
 * runs like the app's (lib/revision.ts): a full sha is itself, a branch or
 * tag is looked up with `git ls-remote` in the frontend's repository (the
 * app's, with its deploy key and pinned host key, unless it names its own).
 * Without `frontend.revision` the frontend is the app's commit.
 * BERTH_REVISION_SHA pins the app's revision only.
 */
import { BerthConfig } from "./config";
import { gitLsRemote, LsRemote, resolveRevision, ResolvedRevision } from "./revision";

export function resolveFrontendRevision(cfg: BerthConfig, app: ResolvedRevision, lsRemote: LsRemote = gitLsRemote, processEnv: NodeJS.ProcessEnv = process.env): ResolvedRevision {
    const f = cfg.frontend;
    if (!f || f.revision === undefined) return app;
    const release = { ...cfg.release, repository: f.repository ?? cfg.release.repository, revision: f.revision };
    try {
        return resolveRevision({ ...cfg, release }, lsRemote, { ...processEnv, BERTH_REVISION_SHA: "" });
    } catch (e) {
        throw new Error((e as Error).message.replace(/^berth:revision/, "berth:frontend.revision"));
    }
}
