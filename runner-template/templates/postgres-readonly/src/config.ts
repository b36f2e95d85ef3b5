// The settings this server was created with; the tools read them from here. Edit them in a pull request.
export const config = {
  endpoint: 'https://ep-example-123456.us-east-2.aws.neon.tech/sql',
  secretName: 'DATABASE_URL',
  maxRows: 200,
};
