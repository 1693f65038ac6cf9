/**
 * The environment's frontend steps (`berth:frontend`, one web host): the
 * build before the backend's switch, then the soak after the switch, then
 * the publish after the soak and the HTTPS site. Without `berth:frontend`
 * none of these resources exists (existing stacks' URNs are unchanged).
 *
 * What the engine runs for a change (and `pulumi preview` shows):
 * - backend only (berth:revision moves, frontend.revision pinned): release,
 *   switch, soak; neither the build nor the publish (their triggers are the
 *   frontend's sha).
 * - frontend only (frontend.revision moves): build and publish; no switch,
 *   no soak (their scripts carry the backend's sha, env and units only).
 * - both (the default: the frontend follows berth:revision): build, switch,
 *   soak, publish, in that order.
 */
import * as pulumi from "@pulumi/pulumi";
import type { Plan, PlanHost } from "../../lib/plan";
import { argsFor } from "../../lib/plan";
import type { ResolvedRevision } from "../../lib/revision";
import { resolveFrontendRevision } from "../../lib/frontendRevision";
import type { Connection } from "../../lib/remote";
import { Frontend, FRONTEND_SCOPE } from "../web/frontend";
import { Soak, SOAK_SCOPE } from "./soak";
import type { Release } from "./release";
import type { Switch } from "./switch";

/** What the steps read of the environment's Steps. */
export interface FrontendSteps {
    readonly plan: Plan;
    readonly name: string;
    readonly child: { parent: pulumi.Resource };
    connection(h: PlanHost): pulumi.Input<Connection>;
    ready(h: PlanHost): pulumi.Resource[];
}

/** The build (before the switch); undefined without berth:frontend. */
export function frontendBuildStep(s: FrontendSteps, revision: ResolvedRevision, release: Release, envFile: pulumi.Resource): Frontend | undefined {
    const p = s.plan;
    if (!p.config.frontend) return undefined;
    const h = p.first;
    const sha = resolveFrontendRevision(p.config, revision).sha;
    // The app's mirror is shared unless the frontend has its own repository: after the app's checkout.
    const after = [...s.ready(h), envFile, ...(release.deployKey ? [release.deployKey] : []), ...(p.config.frontend.repository ? [] : [release.checkout])];
    return new Frontend(`${s.name}-frontend`, { ...argsFor(p, h, FRONTEND_SCOPE), connection: s.connection(h), sha, buildAfter: after }, s.child);
}

/** The soak after the switch, then the publish after the soak and the HTTPS site. */
export function soakAndPublishStep(s: FrontendSteps, frontend: Frontend, sw: Switch, site: pulumi.Resource): Soak {
    const p = s.plan;
    const h = p.first;
    const soak = new Soak(
        `${s.name}-soak`,
        { ...argsFor(p, h, SOAK_SCOPE), connection: s.connection(h), inputs: sw.inputs(), dependsOn: [sw.command] },
        s.child,
    );
    frontend.publishAfter([soak.command, site]);
    return soak;
}
