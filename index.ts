/**
 * berth: the whole target state of one stack (staging, production, dev).
 * Configuration is validated before any resource is registered.
 */
import * as pulumi from "@pulumi/pulumi";
import { Environment } from "./components/environment";
import { loadConfig } from "./lib/config";

const config = loadConfig(pulumi);
const env = new Environment(config.names.id, { config });

export const host = config.host.address;
export const urls = env.urls;
export const url = env.urls[0];
export const databaseUrl = pulumi.secret(env.databaseUrl);
export const redisUrl = pulumi.secret(env.redisUrl);
