/** Who may sign up without an invitation: anyone (`open`) or nobody (`invite`, the default). */
export type SignupMode = 'open' | 'invite';
