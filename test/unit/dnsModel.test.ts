/**
 * The applier's cloudflare:DnsRecord model (test/e2e/providers.ts) against a
 * test DNS: each Cloudflare record is its own object, so with one A record
 * per web host (round robin) deleting or moving one record must leave the
 * others of that name answering, although pebble-challtestsrv's API can only
 * append addresses to a name or clear all of them.
 *
 * Runs against a small in-process stand-in for challtestsrv (its management
 * API's add-a/clear-a/add-aaaa/clear-aaaa and a UDP DNS server answering
 * A/AAAA, two ports below the API as test/e2e/host/acme.sh places them), and
 * against the real pebble-challtestsrv when it is installed (the e2e world
 * has it), which pins the stand-in's semantics.
 */
import { after, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as dgram from "node:dgram";
import * as http from "node:http";
import * as net from "node:net";
import { HostModels, testDnsServer, TestDns } from "../e2e/providers";
import type { StoredResource } from "../e2e/engine";

const TYPE = "cloudflare:index/dnsRecord:DnsRecord";
const NAME = "app.dns-model.test";

// ---------------------------------------------------------------------------
// Test DNS servers
// ---------------------------------------------------------------------------

interface TestDnsServer {
    api: string;
    close(): Promise<void>;
}

/** In-process challtestsrv: add-* appends to the name's list, clear-* empties it; DNS on api port - 2. */
async function fakeChalltestsrv(): Promise<TestDnsServer> {
    const records = { a: new Map<string, string[]>(), aaaa: new Map<string, string[]>() };
    for (let attempt = 0; ; attempt++) {
        const udp = dgram.createSocket("udp4");
        await new Promise<void>((r) => udp.bind(0, "127.0.0.1", () => r()));
        const dnsPort = udp.address().port;
        const api = http.createServer((req, res) => {
            let body = "";
            req.on("data", (d) => (body += d));
            req.on("end", () => {
                const m = /^\/(add|clear)-(a|aaaa)$/.exec(req.url ?? "");
                if (req.method !== "POST" || !m) {
                    res.writeHead(404).end();
                    return;
                }
                const { host, addresses = [] } = JSON.parse(body) as { host: string; addresses?: string[] };
                const table = records[m[2] as "a" | "aaaa"];
                const key = host.toLowerCase();
                if (m[1] === "add") table.set(key, [...(table.get(key) ?? []), ...addresses]);
                else table.delete(key);
                res.writeHead(200).end();
            });
        });
        udp.on("message", (msg, rinfo) => {
            const q = parseQuestion(msg);
            const list = q.qtype === 1 ? records.a.get(q.name) : q.qtype === 28 ? records.aaaa.get(q.name) : undefined;
            udp.send(dnsAnswer(msg, q, list ?? []), rinfo.port, rinfo.address);
        });
        const ok = await new Promise<boolean>((resolve) => {
            api.once("error", () => resolve(false));
            api.listen(dnsPort + 2, "127.0.0.1", () => resolve(true));
        });
        if (ok) {
            return {
                api: `http://127.0.0.1:${dnsPort + 2}`,
                close: async () => {
                    udp.close();
                    await new Promise((r) => api.close(r));
                },
            };
        }
        udp.close();
        if (attempt > 20) throw new Error("no free port pair for the fake challtestsrv");
    }
}

function parseQuestion(msg: Buffer): { name: string; qtype: number; end: number } {
    let off = 12;
    const labels: string[] = [];
    while (msg[off] !== 0) {
        labels.push(msg.subarray(off + 1, off + 1 + msg[off]).toString("ascii"));
        off += msg[off] + 1;
    }
    off += 1;
    return { name: `${labels.join(".").toLowerCase()}.`, qtype: msg.readUInt16BE(off), end: off + 4 };
}

function dnsAnswer(query: Buffer, q: { qtype: number; end: number }, addresses: string[]): Buffer {
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2); // id
    header.writeUInt16BE(0x8400 | (query.readUInt16BE(2) & 0x0100), 2); // response, authoritative, RD copied
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(addresses.length, 6);
    const answers = addresses.map((a) => {
        const rdata = q.qtype === 1 ? Buffer.from(a.split(".").map(Number)) : ipv6Bytes(a);
        const rr = Buffer.alloc(12);
        rr.writeUInt16BE(0xc00c, 0); // the question's name
        rr.writeUInt16BE(q.qtype, 2);
        rr.writeUInt16BE(1, 4); // IN
        rr.writeUInt32BE(0, 6); // TTL
        rr.writeUInt16BE(rdata.length, 10);
        return Buffer.concat([rr, rdata]);
    });
    return Buffer.concat([header, query.subarray(12, q.end), ...answers]);
}

function ipv6Bytes(a: string): Buffer {
    const [head, tail] = a.split("::");
    const h = head ? head.split(":") : [];
    const t = tail ? tail.split(":") : [];
    const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
    return Buffer.from(groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
}

const hasChalltestsrv = spawnSync("sh", ["-c", "command -v pebble-challtestsrv"]).status === 0;

/** The real pebble-challtestsrv, started as acme.sh does (no default addresses), DNS on api port - 2. */
async function realChalltestsrv(): Promise<TestDnsServer> {
    const port = await freeUdpPort();
    const api = `http://127.0.0.1:${port + 2}`;
    const p = spawn(
        "pebble-challtestsrv",
        ["-defaultIPv4", "", "-defaultIPv6", "", "-dns01", `127.0.0.1:${port}`, "-management", `127.0.0.1:${port + 2}`, "-http01", "", "-https01", "", "-tlsalpn01", ""],
        { stdio: "ignore" },
    );
    const exited = new Promise<void>((r) => p.on("exit", () => r()));
    for (let i = 0; i < 100; i++) {
        if (p.exitCode !== null) throw new Error(`pebble-challtestsrv exited (${p.exitCode})`);
        if (await fetch(`${api}/clear-a`, { method: "POST", body: JSON.stringify({ host: `${NAME}.` }) }).then(() => true, () => false)) {
            return { api, close: async () => (p.kill(), await exited) };
        }
        await new Promise((r) => setTimeout(r, 100));
    }
    p.kill();
    throw new Error("pebble-challtestsrv did not answer");
}

function freeUdpPort(): Promise<number> {
    return new Promise((resolve) => {
        const s = dgram.createSocket("udp4");
        s.bind(0, "127.0.0.1", () => {
            const port = s.address().port;
            s.close(() => resolve(port));
        });
    });
}

// ---------------------------------------------------------------------------
// The model, driven as the engine drives it
// ---------------------------------------------------------------------------

type Rec = { name: string; type: "A" | "AAAA"; content: string; zoneId?: string; ttl?: number; proxied?: boolean };

function modelOn(api: string) {
    const host = new HostModels({ dnsApi: api, commands: [], dockerChanges: [] });
    const m = host.models()[TYPE];
    const ctx = (name: string) => ({ urn: `urn:pulumi:dev::berth::${TYPE}::${name}`, name });
    const stored = (name: string, r: Rec) => ({ urn: ctx(name).urn, type: TYPE, name, inputs: { zoneId: "z", ttl: 1, proxied: false, ...r } }) as unknown as StoredResource;
    const inputs = (r: Rec) => ({ zoneId: "z", ttl: 1, proxied: false, ...r });
    const dns = new TestDns(api);
    return {
        create: (name: string, r: Rec) => m.create(ctx(name), inputs(r)),
        update: (name: string, old: Rec, r: Rec) => m.update!(ctx(name), stored(name, old), inputs(r)),
        delete: (name: string, old: Rec) => m.delete!(ctx(name), stored(name, old)),
        diff: m.diff,
        answer: async (name = NAME, type: "A" | "AAAA" = "A") => (await dns.addresses(type, name)).sort(),
        close: () => host.close(),
    };
}

const web1: Rec = { name: NAME, type: "A", content: "172.30.0.11" };
const web2: Rec = { name: NAME, type: "A", content: "172.30.0.12" };

function scenarios(server: () => Promise<TestDnsServer>) {
    let s: TestDnsServer;
    let model: ReturnType<typeof modelOn>;
    const fresh = async () => {
        await model?.close();
        await s?.close();
        s = await server();
        model = modelOn(s.api);
    };
    after(async () => {
        model?.close();
        await s?.close();
    });

    test("one A record per web host: the name answers both (round robin)", async () => {
        await fresh();
        await model.create("web1", web1);
        await model.create("web2", web2);
        assert.deepEqual(await model.answer(), [web1.content, web2.content]);
    });

    test("deleting one record keeps the other record of the name", async () => {
        await model.delete("web2", web2);
        assert.deepEqual(await model.answer(), [web1.content]);
        await model.delete("web1", web1);
        assert.deepEqual(await model.answer(), []);
    });

    test("moving one record (new address) replaces only its address; a ttl/proxied change leaves the answer as it is", async () => {
        await fresh();
        await model.create("web1", web1);
        await model.create("web2", web2);
        const moved = { ...web2, content: "172.30.0.22" };
        await model.update("web2", web2, moved);
        assert.deepEqual(await model.answer(), [web1.content, moved.content]);
        await model.update("web1", web1, { ...web1, ttl: 300, proxied: true });
        assert.deepEqual(await model.answer(), [web1.content, moved.content], "no duplicate, nothing removed");
    });

    test("renaming one record moves it to the other name; the rest stay", async () => {
        await fresh();
        await model.create("web1", web1);
        await model.create("web2", web2);
        const other = `www.${NAME}`;
        await model.update("web2", web2, { ...web2, name: other });
        assert.deepEqual(await model.answer(), [web1.content]);
        assert.deepEqual(await model.answer(other), [web2.content]);
        await model.delete("web2", { ...web2, name: other });
    });

    test("a replacement (create the new record, then delete the old one) with the same address keeps it answering", async () => {
        await fresh();
        await model.create("web1", web1);
        await model.create("web1-new", { ...web1, zoneId: "z2" });
        await model.delete("web1", web1);
        assert.deepEqual(await model.answer(), [web1.content]);
        assert.deepEqual(model.diff({ ...web1, zoneId: "z" }, { ...web1, zoneId: "z2" }).replaceKeys, ["zoneId"]);
        assert.deepEqual(model.diff(web1, { ...web1, content: "1.2.3.4", ttl: 60 }).replaceKeys, []);
    });

    test("operations running at once on one name lose nothing (a create during a delete)", async () => {
        await fresh();
        await model.create("web1", web1);
        await model.create("web2", web2);
        const web3: Rec = { ...web1, content: "172.30.0.13" };
        await Promise.all([model.delete("web1", web1), model.create("web3", web3), model.delete("web2", web2)]);
        assert.deepEqual(await model.answer(), [web3.content]);
    });

    test("deleting a record that is no longer there changes nothing", async () => {
        await fresh();
        await model.create("web1", web1);
        await model.delete("web2", web2);
        assert.deepEqual(await model.answer(), [web1.content]);
    });

    test("AAAA records: per record too, whatever the address's spelling", async () => {
        await fresh();
        const v6a: Rec = { name: NAME, type: "AAAA", content: "2001:db8:0:0::11" };
        const v6b: Rec = { name: NAME, type: "AAAA", content: "2001:DB8::12" };
        await model.create("web1-aaaa", v6a);
        await model.create("web2-aaaa", v6b);
        await model.create("web1", web1);
        assert.deepEqual(await model.answer(NAME, "AAAA"), ["2001:db8::11", "2001:db8::12"]);
        await model.delete("web1-aaaa", v6a);
        assert.deepEqual(await model.answer(NAME, "AAAA"), ["2001:db8::12"]);
        assert.deepEqual(await model.answer(), [web1.content], "the A record is untouched");
    });
}

describe("DnsRecord model: Cloudflare's per-record semantics on the test DNS (in-process challtestsrv)", () => {
    scenarios(fakeChalltestsrv);
});

describe("DnsRecord model on the real pebble-challtestsrv", { skip: hasChalltestsrv ? false : "pebble-challtestsrv is not installed" }, () => {
    scenarios(realChalltestsrv);
});

test("the DNS server is where acme.sh puts it: the management API's address, two ports below", () => {
    assert.equal(testDnsServer("http://172.29.0.1:8055"), "172.29.0.1:8053");
    assert.equal(testDnsServer("http://172.29.0.1:8785"), "172.29.0.1:8783");
    assert.ok(net.isIPv4(testDnsServer("http://10.0.0.1:8065").split(":")[0]));
});
