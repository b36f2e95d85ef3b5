// The settings of this view: the tool that feeds it and the fields it shows. Edit them in a pull request.
export const config = {
  title: 'Items',
  tool: 'list_items',
  list: null as string | null,
  label: null as string | null,
  date: null as string | null,
  status: null as string | null,
  number: null as string | null,
  inputs: [] as { name: string; type: string; required: boolean; description: string }[],
};
