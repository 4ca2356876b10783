/**
 * Renders the settings table for docs/configuration.md from SETTINGS, so the docs cannot drift:
 * a unit test compares the file with this output.
 */
import { SETTINGS } from './settings.ts';
import type { SettingSpec } from './settings.ts';

export function renderSettingsTable(): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|');
  const code = (text: string) => (text === '' ? '(empty)' : `\`${text}\``);
  const specs: SettingSpec<unknown>[] = Object.values(SETTINGS);
  const rows = specs.map((spec) => {
    const defaultText = spec.defaultNote ?? code(spec.default);
    const names = [spec.env, ...(spec.envAliases ?? [])].map((name) => `\`${name}\``).join(' or ');
    return `| \`${spec.key}\` | ${names} | ${cell(spec.type)} | ${cell(defaultText)} | ${cell(spec.description)} |`;
  });
  return [
    '| YAML key | Environment variable | Type | Default | Meaning |',
    '|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}
