/**
 * Reads the Dockerfile's final stage (what the image is made of and how it runs) and lists where
 * it and the image built here (spec.ts) disagree: the Dockerfile stays the source of truth, and
 * test/unit/operator-image fails on any difference. A small parser for the instructions this
 * Dockerfile uses, not a general one.
 */
import path from 'node:path';
import {
  operatorBaseEnv,
  operatorBuildInputs,
  operatorCopies,
  operatorDebianSuite,
  operatorImageConfig,
  operatorNode,
  operatorTrivyVersion,
} from './spec.ts';

export interface DockerInstruction {
  keyword: string;
  args: string;
}

export interface DockerCopy {
  from?: string;
  chown?: string;
  sources: string[];
  /** Absolute, resolved against the WORKDIR in effect, with the file name for a folder target. */
  dest: string;
}

export interface DockerStage {
  /** The FROM image with the global ARGs substituted. */
  from: string;
  name?: string;
  instructions: DockerInstruction[];
}

export interface FinalStage {
  from: string;
  env: Record<string, string>;
  workdir: string;
  user?: string;
  exposedPorts: string[];
  entrypoint?: string[];
  copies: DockerCopy[];
  healthcheck: boolean;
}

export interface ParsedDockerfile {
  /** Global ARGs (before the first FROM) and their defaults. */
  args: Record<string, string>;
  stages: DockerStage[];
  final: FinalStage;
}

/** Instructions, one per logical line: comments dropped, `\` continuations joined. */
function instructions(text: string): DockerInstruction[] {
  const out: DockerInstruction[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!pending && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue; // a comment inside a continued instruction
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    const m = /^(\S+)\s*(.*)$/.exec(full);
    if (m?.[1]) out.push({ keyword: m[1].toUpperCase(), args: m[2] ?? '' });
  }
  if (pending.trim()) throw new Error('Dockerfile ends inside a continued line');
  return out;
}

/** `${NAME}`, `${NAME#prefix}` and `$NAME` from `vars`; unknown names stay as written. */
function substitute(value: string, vars: Record<string, string>): string {
  return value.replace(
    /\$\{(\w+)(?:#([^}]*))?\}|\$(\w+)/g,
    (whole, braced?: string, strip?: string, bare?: string) => {
      const v = vars[(braced ?? bare) as string];
      if (v === undefined) return whole;
      return strip !== undefined && v.startsWith(strip) ? v.slice(strip.length) : v;
    },
  );
}

/** `A=1 B="x y"` (or the legacy `A 1`) as pairs. */
function keyValues(args: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!/^\S+=/.test(args)) {
    const m = /^(\S+)\s+(.*)$/.exec(args);
    if (m?.[1]) out[m[1]] = m[2] ?? '';
    return out;
  }
  for (const m of args.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    const value = m[2] ?? '';
    out[m[1] as string] = value.startsWith('"') ? (JSON.parse(value) as string) : value;
  }
  return out;
}

function parseCopy(args: string, workdir: string): DockerCopy {
  const words = args.split(/\s+/).filter(Boolean);
  const copy: DockerCopy = { sources: [], dest: '' };
  const rest: string[] = [];
  for (const w of words) {
    const flag = /^--(from|chown)=(.*)$/.exec(w);
    if (flag?.[1] === 'from') copy.from = flag[2] as string;
    else if (flag?.[1] === 'chown') copy.chown = flag[2] as string;
    else if (w.startsWith('--')) throw new Error(`COPY flag ${w} is not understood here`);
    else rest.push(w);
  }
  const target = rest.pop();
  if (!target || rest.length === 0) throw new Error(`COPY ${args}: needs a source and a destination`);
  copy.sources = rest;
  const abs = path.posix.resolve(workdir, target);
  // A target ending in / is a folder: each source keeps its own name there.
  const source = rest[0] as string;
  copy.dest =
    target.endsWith('/') && rest.length === 1 ? path.posix.join(abs, path.posix.basename(source)) : abs;
  return copy;
}

export function parseDockerfile(text: string): ParsedDockerfile {
  const all = instructions(text);
  const args: Record<string, string> = {};
  const stages: DockerStage[] = [];
  for (const ins of all) {
    if (ins.keyword === 'FROM') {
      const m = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m?.[1]) throw new Error(`FROM ${ins.args}: not understood`);
      stages.push({ from: substitute(m[1], args), ...(m[2] ? { name: m[2] } : {}), instructions: [] });
    } else if (stages.length === 0) {
      if (ins.keyword !== 'ARG') throw new Error(`${ins.keyword} before the first FROM`);
      const [name, value] = ins.args.split('=', 2) as [string, string | undefined];
      args[name.trim()] = value?.trim() ?? '';
    } else {
      (stages.at(-1) as DockerStage).instructions.push(ins);
    }
  }
  const last = stages.at(-1);
  if (!last) throw new Error('Dockerfile has no FROM');
  const final: FinalStage = {
    from: last.from,
    env: {},
    workdir: '/',
    exposedPorts: [],
    copies: [],
    healthcheck: false,
  };
  for (const ins of last.instructions) {
    switch (ins.keyword) {
      case 'ENV':
        Object.assign(final.env, keyValues(ins.args));
        break;
      case 'WORKDIR':
        final.workdir = path.posix.resolve(final.workdir, ins.args.trim());
        break;
      case 'USER':
        final.user = ins.args.trim();
        break;
      case 'EXPOSE':
        for (const p of ins.args.split(/\s+/).filter(Boolean))
          final.exposedPorts.push(p.includes('/') ? p : `${p}/tcp`);
        break;
      case 'ENTRYPOINT':
        if (!ins.args.trim().startsWith('[')) throw new Error('ENTRYPOINT must be in exec (JSON) form');
        final.entrypoint = JSON.parse(ins.args) as string[];
        break;
      case 'COPY':
        final.copies.push(parseCopy(ins.args, final.workdir));
        break;
      case 'HEALTHCHECK':
        final.healthcheck = true;
        break;
      case 'ARG':
      case 'LABEL':
        break;
      default:
        // RUN, CMD, ADD, VOLUME, … would change the image in ways spec.ts does not model.
        throw new Error(`${ins.keyword} in the final stage: teach test/harness/operator-image about it`);
    }
  }
  return { args, stages, final };
}

const envMap = (env: readonly string[] = []) =>
  Object.fromEntries(env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));

/**
 * Where the Dockerfile and the image built here disagree (empty when they agree): user,
 * entrypoint, exposed ports, working directory, environment, the files shipped (COPY targets,
 * root-owned), the Node major version and Debian release of the base, and the Trivy version.
 */
export function dockerfileDisagreements(text: string): string[] {
  const { args, stages, final } = parseDockerfile(text);
  const config = operatorImageConfig;
  const out: string[] = [];
  const differ = (what: string, dockerfile: unknown, built: unknown) => {
    if (JSON.stringify(dockerfile) !== JSON.stringify(built)) {
      out.push(
        `${what}: the Dockerfile says ${JSON.stringify(dockerfile)}, the built image ${JSON.stringify(built)}`,
      );
    }
  };
  differ('USER', final.user, config.User);
  differ('ENTRYPOINT', final.entrypoint, config.Entrypoint);
  differ('EXPOSE', [...final.exposedPorts].sort(), Object.keys(config.ExposedPorts ?? {}).sort());
  differ('WORKDIR', final.workdir, config.WorkingDir);
  // The Dockerfile's own ENV; the rest of the image's Env is the node base image's (spec.ts).
  const env = envMap(config.Env);
  for (const [k, v] of Object.entries(final.env)) differ(`ENV ${k}`, v, env[k]);
  for (const k of Object.keys(env)) {
    if (!(k in final.env) && !(operatorBaseEnv as readonly string[]).includes(k)) {
      out.push(`ENV ${k}: the built image sets it, the Dockerfile does not`);
    }
  }
  differ(
    'files shipped (COPY destinations)',
    final.copies.map((c) => c.dest),
    operatorCopies.map((c) => c.path),
  );
  for (const c of final.copies) differ(`COPY ${c.dest} owner`, c.chown ?? '(the build user)', 'root:root');
  // What the build stage compiles and installs from: the dist and node_modules layers' inputs.
  const buildStage = stages.find((s) => s.name === final.copies.find((c) => c.dest.endsWith('/dist'))?.from);
  const buildSources = (buildStage?.instructions ?? [])
    .filter((i) => i.keyword === 'COPY')
    .flatMap((i) => parseCopy(i.args, '/').sources)
    .filter((s) => !s.startsWith('--'));
  differ('files the build stage copies in', [...buildSources].sort(), [...operatorBuildInputs].sort());
  const base = /^node:(\d+)-(\w+)-slim$/.exec(final.from);
  if (!base) out.push(`FROM ${final.from}: expected node:<major>-<debian release>-slim`);
  else {
    differ('Node major version (base image)', Number(base[1]), operatorNode.major);
    differ('Debian release (base image)', base[2], operatorDebianSuite);
  }
  differ('ARG NODE_VERSION', Number(args.NODE_VERSION), operatorNode.major);
  if (!operatorNode.version.startsWith(`${operatorNode.major}.`)) {
    out.push(`node ${operatorNode.version} is not Node ${operatorNode.major}`);
  }
  differ('ARG TRIVY_VERSION', args.TRIVY_VERSION, operatorTrivyVersion);
  return out;
}
