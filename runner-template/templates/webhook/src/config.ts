// The settings this server was created with; the tools read them from here. Edit them in a pull request.
export const config = {
  url: 'https://hooks.example.com/events',
  secretName: 'WEBHOOK_SECRET',
  signatureHeader: 'X-Signature-256',
};
