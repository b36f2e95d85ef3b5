// The settings this server was created with; the tools read them from here. Edit them in a pull request.
export const config = {
  repositories: ['octocat/hello-world'],
  secretName: 'GITHUB_TOKEN',
};
