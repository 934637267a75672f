/** Types of eslint.config.js for the test that plants a violation of each import rule. */
export interface ImportRule {
  regex: string;
  message: string;
  allowTypeImports?: boolean;
}
export declare const importRules: Record<string, ImportRule>;
declare const config: unknown[];
export default config;
