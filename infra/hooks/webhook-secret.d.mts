// Types of webhook-secret.mjs for the tests that import it (the hook itself stays plain JavaScript: azd may run it
// before `npm install`).

export declare const webhookSecretName: string;

export declare class WebhookSecretError extends Error {}

export declare function azdToken(
  scope: string,
  options?: { tenantId?: string; exec?: (file: string, args: string[]) => Promise<string> },
): Promise<string>;

export interface EnsureOptions {
  vaultUri: string;
  functionAppId: string;
  getToken: (scope: string) => Promise<string>;
  fetch?: typeof globalThis.fetch;
  log?: (line: string) => void;
  sleep?: (ms: number) => Promise<void>;
  roleWaitInMs?: number;
  retryDelayInMs?: number;
}

export declare function ensureWebhookSecret(options: EnsureOptions): Promise<"created" | "exists">;

export declare function main(env: Record<string, string | undefined>): Promise<void>;
