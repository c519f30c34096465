/**
 * Every pdmctl command group, in the order `pdmctl --help` lists them. A new group is one module in
 * this folder exporting a CommandGroup, added to this list.
 */
import type { CommandGroup } from '../command.js';
import { auditGroup } from './audit.js';
import { devicesGroup } from './devices.js';
import { eventsGroup } from './events.js';
import { modelsGroup } from './models.js';
import { reportsGroup } from './reports.js';
import { rolloutsGroup } from './rollouts.js';
import { tokensGroup } from './tokens.js';
import { trustGroup } from './trust.js';

export const commandGroups: readonly CommandGroup[] = [
  modelsGroup,
  rolloutsGroup,
  trustGroup,
  devicesGroup,
  auditGroup,
  reportsGroup,
  eventsGroup,
  tokensGroup,
];
