import { request } from "node:https";

/** Where the ARM emulator's admin API lives, and the certificate to trust. */
export interface ArmAdminTarget {
  endpoint: string;
  caCertPem: string;
}

/** Calls the ARM emulator's admin API (`/_emulator/...`, local/arm/README.md) and returns the parsed answer. */
export function armAdmin<T = unknown>(arm: ArmAdminTarget, method: string, path: string, body?: unknown): Promise<T> {
  const url = new URL(`/_emulator/${path.replace(/^\//, "")}`, arm.endpoint);
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        ca: arm.caCertPem,
        headers: payload ? { "content-type": "application/json", "content-length": payload.byteLength } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          if ((res.statusCode ?? 500) >= 400) reject(new Error(`${method} ${url.pathname}: ${res.statusCode} ${text}`));
          else resolve((text ? JSON.parse(text) : undefined) as T);
        });
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

/** Durations for `npm start`: a build takes seconds, each region replicates in a few, so progress is visible. */
export const demoSimulation = {
  operationDurationInMs: 200,
  deleteDurationInMs: 500,
  replication: { regionDurationInMs: 3000 },
  imageBuilder: {
    phaseDurationsInMs: {
      Queued: 500,
      Building: 1500,
      Customizing: 2500,
      Optimizing: 500,
      Validating: 1000,
      Distributing: 1500,
    },
    cancelDurationInMs: 500,
  },
};

/** Near-zero durations for tests and benchmarks (ARM throttling stays as configured: see `withoutThrottling`). */
export const instantSimulation = {
  operationDurationInMs: 0,
  deleteDurationInMs: 0,
  replication: { regionDurationInMs: 0 },
  imageBuilder: {
    phaseDurationsInMs: { Queued: 0, Building: 0, Customizing: 0, Optimizing: 0, Validating: 0, Distributing: 0 },
    cancelDurationInMs: 0,
  },
};

/**
 * Every Image Builder phase lasting `phaseInMs` and each region replicating for `regionInMs`, operations answered at
 * once: tests that move the emulator's clock (and the screenshots) see each step of a build, whatever the machine's
 * speed.
 */
export function steppedSimulation(phaseInMs: number, regionInMs = phaseInMs) {
  return {
    operationDurationInMs: 0,
    replication: { regionDurationInMs: regionInMs },
    imageBuilder: {
      phaseDurationsInMs: {
        Queued: phaseInMs,
        Building: phaseInMs,
        Customizing: phaseInMs,
        Optimizing: phaseInMs,
        Validating: phaseInMs,
        Distributing: phaseInMs,
      },
      cancelDurationInMs: 0,
    },
  };
}

/**
 * Switches ARM's subscription throttling off (it is on by default, with Azure's numbers): for tests and benchmarks
 * that poll faster than ARM allows, or measure something else than pacing.
 */
export const withoutThrottling = { throttling: { enabled: false } };

/** Sets the emulator's simulated durations. */
export async function configureSimulation(arm: ArmAdminTarget, config: object): Promise<void> {
  await armAdmin(arm, "PUT", "config", config);
}
