import { signBody } from "../shared/webhook/signature.js";

/** A build request as a CI system posts it to the webhook. */
export interface WebhookBuildRequest {
  image: string;
  commit: string;
  reason: string;
  requestedBy: string;
}

/**
 * Posts a build request to the host's webhook as a CI system does: with the function key and, when the host has a
 * webhook secret, the body's `X-Hub-Signature-256` (the host refuses unsigned requests then).
 */
export function postBuildRequest(options: {
  hostUrl: string;
  functionKey: string;
  webhookSecret: string | undefined;
  request: WebhookBuildRequest;
}): Promise<Response> {
  const body = JSON.stringify(options.request);
  return fetch(`${options.hostUrl}/api/builds`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-functions-key": options.functionKey,
      ...(options.webhookSecret ? { "x-hub-signature-256": signBody(body, options.webhookSecret) } : {}),
    },
    body,
  });
}
