/** Device tags: set at enrollment, selected by rollout targets and enrollment listings. */
import { z } from 'zod';

/** A tag becomes a rollout target value and a CLI argument: a short word, no spaces or wildcards. */
export const tagSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/, 'a tag is 1-64 of A-Z a-z 0-9 . _ : - (starting with a letter or digit)');
