/**
 * berth: the whole target state of one stack (staging, production, dev).
 * Configuration is validated, the SSH key for the Docker provider written
 * (lib/sshIdentity.ts, when berth:privateKey is set), and the revision
 * resolved to a commit (or taken from BERTH_REVISION_SHA) before any resource
 * is registered.
 */
import * as pulumi from "@pulumi/pulumi";
import { Environment } from "./components/environment";
import { loadConfig } from "./lib/config";
import { resolveRevision } from "./lib/revision";
import { writeDockerSshIdentity } from "./lib/sshIdentity";

const config = loadConfig(pulumi);
writeDockerSshIdentity(config);
const resolved = resolveRevision(config);
const env = new Environment(config.names.id, { config, revision: resolved });

export const host = config.host.address;
/** Every host of the stack: name, address and roles. */
export const hosts = config.hosts.map((h) => ({ name: h.name, address: h.address, roles: [...h.roles] }));
export const urls = env.urls;
export const url = env.urls[0];
/** The configured ref (branch, tag or sha). */
export const revisionRef = resolved.ref;
/** The commit this stack serves (the production workflow deploys exactly this). */
export const revision = resolved.sha;
/** berth:maintenance as deployed: the deploys compare it with main (berth check-desired). */
export const maintenance = config.maintenance;
export const databaseUrl = pulumi.secret(env.databaseUrl);
export const redisUrl = pulumi.secret(env.redisUrl);
