// Package profile expands the profiles of a token_revocation handler (a
// whole API's revocation and logout routes in one line: keycloak,
// meshydb, usergrid and the generic api profile) into routes (package
// route) and namespace settings, before the routes compile.
package profile
