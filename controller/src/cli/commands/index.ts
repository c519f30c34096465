/**
 * Every pdmctl command group, in the order `pdmctl --help` lists them. A new group is one module in
 * this folder exporting a CommandGroup, added to this list.
 */
import type { CommandGroup } from '../command.js';
import { modelsGroup } from './models.js';

export const commandGroups: readonly CommandGroup[] = [
  modelsGroup,
];
