/**
 * berth: the whole target state of one stack (staging, production, dev).
 * Configuration is validated, and the revision resolved to a commit, before
 * any resource is registered.
 */
import * as pulumi from "@pulumi/pulumi";
import { Environment } from "./components/environment";
import { loadConfig } from "./lib/config";
import { resolveRevision } from "./lib/revision";

const config = loadConfig(pulumi);
const resolved = resolveRevision(config);
const env = new Environment(config.names.id, { config, revision: resolved });

export const host = config.host.address;
export const urls = env.urls;
export const url = env.urls[0];
/** The configured ref (branch, tag or sha). */
export const revisionRef = resolved.ref;
/** The commit this stack serves (the production workflow deploys exactly this). */
export const revision = resolved.sha;
export const databaseUrl = pulumi.secret(env.databaseUrl);
export const redisUrl = pulumi.secret(env.redisUrl);
