import { tagPrefix, truncateTagValue } from "./names.js";

/**
 * Build failures recorded on the image definition's tags (there is no database: the gallery records outcomes).
 * One tag per failure, `imagePipeline.failure.<buildId>` = `<ISO time> <reason>`, and, when Image Builder named its
 * customization log, `imagePipeline.failureLog.<buildId>` = the log's URL. Azure allows 50 tags per resource and 256
 * characters per value, so only the newest few are kept and reasons are cut.
 */

/** Tag key prefix of a recorded failure's reason. */
export const failureTagPrefix = `${tagPrefix}failure.`;
/** Tag key prefix of a recorded failure's customization log location. */
export const failureLogTagPrefix = `${tagPrefix}failureLog.`;
/** How many failures a definition keeps. */
export const failuresKept = 5;

/** A build failure as recorded on the image definition. */
export interface RecordedFailure {
  buildId: string;
  at: string;
  reason: string;
  /** Where Image Builder wrote the build's customization log (it exists while the template is kept). */
  logUri?: string;
}

/** The failures recorded in a definition's tags, newest first. */
export function readFailures(tags: Readonly<Record<string, string>>): RecordedFailure[] {
  return Object.entries(tags)
    .filter(([key]) => key.startsWith(failureTagPrefix))
    .map(([key, value]) => {
      const buildId = key.slice(failureTagPrefix.length);
      const space = value.indexOf(" ");
      const logUri = tags[`${failureLogTagPrefix}${buildId}`];
      return {
        buildId,
        at: space > 0 ? value.slice(0, space) : "",
        reason: space > 0 ? value.slice(space + 1) : value,
        ...(logUri ? { logUri } : {}),
      };
    })
    .sort((a, b) => b.at.localeCompare(a.at));
}

/** The definition's tags with `failure` recorded (replacing an earlier record of the same build), newest kept. */
export function withFailure(tags: Readonly<Record<string, string>>, failure: RecordedFailure): Record<string, string> {
  const others = Object.fromEntries(
    Object.entries(tags).filter(([key]) => !key.startsWith(failureTagPrefix) && !key.startsWith(failureLogTagPrefix)),
  );
  const kept = [failure, ...readFailures(tags).filter((f) => f.buildId !== failure.buildId)].slice(0, failuresKept);
  const entries = kept.flatMap((f) => [
    [`${failureTagPrefix}${f.buildId}`, truncateTagValue(`${f.at} ${f.reason}`)] as const,
    ...(f.logUri && f.logUri.length <= 256 ? [[`${failureLogTagPrefix}${f.buildId}`, f.logUri] as const] : []),
  ]);
  return { ...others, ...Object.fromEntries(entries) };
}

const logLocation = /Image Build log location: (https:\/\/\S+?\/customization\.log)/i;

/**
 * The customization log's URL in an Image Builder run message ("... Image Build log location:
 * https://<account>.blob.core.windows.net/packerlogs/<id>/customization.log. OperationId: ...", as the Image Builder
 * troubleshooting guide quotes it), or undefined when the message names none.
 */
export function customizationLogUriOf(message: string | undefined): string | undefined {
  return message ? logLocation.exec(message)?.[1] : undefined;
}
