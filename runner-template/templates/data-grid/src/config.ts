// The settings this server was created with; the tools read them from here. Edit them in a pull request.
export const config = {
  url: 'https://api.example.com/items',
  rowsKey: null,
  title: 'Rows',
  secretName: null,
  headerName: 'X-API-Key',
};
