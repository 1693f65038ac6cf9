/**
 * How nginx's unix socket reaches a web instance (`berth:webSocket`, else
 * the preset's default), as data: one table behind one interface, read by
 * the unit builders of components/app/appUnits.ts. Both variants keep what
 * the switch relies on: one socket unit per instance
 * (`<runDir>/<instance>.sock`, made by systemd, group nginx), the symlink
 * nginx connects through, and the switch's health probe through that same
 * socket.
 *
 * - `proxy`: the socket unit activates systemd-socket-proxyd, which
 *   forwards each connection to the app on 127.0.0.1:$PORT. Any app that
 *   listens on a TCP port works; one extra hop per connection.
 * - `activation`: the socket unit belongs to the web instance itself
 *   (`Service=` on the socket, `Sockets=` on the service): systemd hands
 *   the listening socket to the app (LISTEN_FDS), which accepts nginx's
 *   connections directly. No proxy, no TCP port; the socket stays open
 *   across the app's restarts (connections queue in its backlog). The
 *   preset makes the command (Rails: Puma's own CLI with
 *   `--bind-to-activated-sockets only`, lib/presets/rails.ts).
 */
import type { BerthConfig } from "../config";
import type { Names } from "../names";
import { presetOf } from "../presets";

export type WebSocketMode = BerthConfig["release"]["webSocket"];

/** What the web template unit and the instance's socket unit add for a mode. */
export interface WebSocketVariant {
    /** [Unit] lines of the web template unit (`%i` = blue/green). */
    webUnitLines(n: Names): string[];
    /** [Service] lines of the web template unit. */
    webServiceLines(n: Names): string[];
    /** The web command line the unit runs. */
    webCommand(release: Pick<BerthConfig["release"], "preset" | "webCommand">): string;
    /** [Socket] lines of the instance's socket unit. */
    socketLines(n: Names): string[];
}

export const WEB_SOCKETS: Readonly<Record<WebSocketMode, WebSocketVariant>> = {
    proxy: {
        webUnitLines: () => [],
        webServiceLines: () => [],
        webCommand: (release) => release.webCommand,
        socketLines: () => [],
    },
    activation: {
        // The socket is listening before the app starts, and goes with it when stopped by hand.
        webUnitLines: (n) => [`Requires=${n.proxyUnit}%i.socket`, `After=${n.proxyUnit}%i.socket`],
        webServiceLines: (n) => [`Sockets=${n.proxyUnit}%i.socket`],
        webCommand: (release) => {
            const c = presetOf({ release }).activatedWebCommand(release.webCommand);
            // lib/config.ts refuses this configuration before anything runs; here for the type.
            if (c === undefined) throw new Error(`berth:webSocket: activation: ${JSON.stringify(release.webCommand)} cannot take systemd's socket`);
            return c;
        },
        // Traffic on an instance's socket starts that instance, never the proxy (whose unit file stays, unused).
        socketLines: (n) => [`Service=${n.webUnit}%i.service`],
    },
};

/** The stack's variant. */
export function webSocketOf(cfg: { readonly release: Pick<BerthConfig["release"], "webSocket"> }): WebSocketVariant {
    return WEB_SOCKETS[cfg.release.webSocket];
}
