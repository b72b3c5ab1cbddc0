<?php
// Differential-test oracle (issue 22, family 8): Laravel's Illuminate
// components (Debian's php-laravel-framework) with a personal access token
// table looked up the way Laravel Sanctum does (Sanctum itself is not in
// Debian; PersonalAccessToken::findToken and Guard::isValidBearerToken are
// copied from Sanctum 4 below). A token is "<id>|<secret>"; the table keeps
// the sha256 of the secret, and a token without "|" is looked up by its
// secret alone. The database is SQLite through Eloquent, so the id is
// compared the way the database compares it ("005" finds row 5).
//
// Beside it, Laravel's own TokenGuard (the "token" auth driver) with an
// EloquentUserProvider over a users table whose api_token column compares
// without case (COLLATE NOCASE, as MySQL's default collation does): a
// token presented in another case finds its user. POST /api_token/issue
// with form field token adds a user with that token; a request whose
// token (query or body api_token, bearer, Basic password) finds a user
// is answered with the token as stored (source "api_token").
//
// With API_USERS_PGSQL set (a PDO DSN of a PostgreSQL server with ICU:
// "host=127.0.0.1;port=P;dbname=postgres"), the users table is there
// instead, its api_token column under a collation that compares at the
// primary level alone (ICU "und-u-ks-level1", nondeterministic), as MySQL
// 8's default utf8mb4_0900_ai_ci does: without case, accents, width or
// ignorable characters ("Ｒévo\u200bked" finds "revoked").
//
// Every request is answered with the tokens Sanctum authenticated, each as
// "<id>|<secret presented>" (source "sanctum"), and the bearer token
// Laravel read (source "laravel_bearer"). POST /sanctum/issue with form
// fields id and secret adds a token (PersonalAccessToken::forceCreate, as
// HasApiTokens::createToken does) and answers it under source "issued".
//
// Usage: SANCTUM_DB=/path/db.sqlite php -S 127.0.0.1:PORT router.php

require '/usr/share/php/Illuminate/Database/autoload.php';
require '/usr/share/php/Illuminate/Http/autoload.php';
require '/usr/share/php/Illuminate/Auth/autoload.php';
require '/usr/share/php/Illuminate/Hashing/autoload.php';

use Illuminate\Database\Capsule\Manager as Capsule;
use Illuminate\Database\Eloquent\Model;
use Illuminate\Http\Request;

class PersonalAccessToken extends Model
{
    protected $table = 'personal_access_tokens';
    protected $guarded = [];
    public $timestamps = false;

    // Sanctum 4's PersonalAccessToken::findToken.
    public static function findToken($token)
    {
        if (strpos($token, '|') === false) {
            return static::where('token', hash('sha256', $token))->first();
        }

        [$id, $token] = explode('|', $token, 2);

        if ($instance = static::find($id)) {
            return hash_equals($instance->token, hash('sha256', $token)) ? $instance : null;
        }
    }
}

// A user of Laravel's token guard.
class ApiUser extends Model implements Illuminate\Contracts\Auth\Authenticatable
{
    use Illuminate\Auth\Authenticatable;

    protected $table = 'api_users';
    protected $guarded = [];
    public $timestamps = false;

    public function getConnectionName()
    {
        return getenv('API_USERS_PGSQL') ? 'users' : null;
    }
}

// Sanctum 4's Guard::isValidBearerToken, for an integer key.
function isValidBearerToken(?string $token = null): bool
{
    if (! is_null($token) && str_contains($token, '|')) {
        [$id, $token] = explode('|', $token, 2);

        return ctype_digit($id) && ! empty($token);
    }

    return ! empty($token);
}

$db = (string) getenv('SANCTUM_DB');
if ($db === '') {
    http_response_code(500);
    exit("SANCTUM_DB is not set\n");
}
if (! file_exists($db)) {
    touch($db);
}
$capsule = new Capsule();
$capsule->addConnection(['driver' => 'sqlite', 'database' => $db, 'prefix' => '']);
$capsule->setAsGlobal();
$capsule->bootEloquent();
Capsule::statement('CREATE TABLE IF NOT EXISTS personal_access_tokens (id INTEGER PRIMARY KEY, name TEXT, token TEXT UNIQUE)');
if ($dsn = getenv('API_USERS_PGSQL')) {
    $pg = [];
    foreach (explode(';', $dsn) as $kv) {
        [$k, $v] = explode('=', $kv, 2);
        $pg[$k] = $v;
    }
    $capsule->addConnection(['driver' => 'pgsql', 'host' => $pg['host'], 'port' => $pg['port'], 'database' => $pg['dbname'],
        'username' => 'postgres', 'password' => '', 'charset' => 'utf8', 'prefix' => '', 'search_path' => 'public', 'sslmode' => 'disable'], 'users');
    $users = Capsule::connection('users');
    $users->statement("CREATE COLLATION IF NOT EXISTS primary_level (provider = icu, locale = 'und-u-ks-level1', deterministic = false)");
    $users->statement('CREATE TABLE IF NOT EXISTS api_users (id SERIAL PRIMARY KEY, api_token TEXT COLLATE primary_level)');
} else {
    Capsule::statement('CREATE TABLE IF NOT EXISTS api_users (id INTEGER PRIMARY KEY, api_token TEXT COLLATE NOCASE UNIQUE)');
}

$request = Request::capture();
$tokens = [];
$errors = [];

if ($request->isMethod('POST') && $request->path() === 'sanctum/issue') {
    $secret = (string) $request->input('secret');
    $row = PersonalAccessToken::forceCreate(['id' => (int) $request->input('id'), 'name' => 'oracle', 'token' => hash('sha256', $secret)]);
    $tokens[] = ['source' => 'issued', 'value' => $row->getKey() . '|' . $secret];
} elseif ($request->isMethod('POST') && $request->path() === 'api_token/issue') {
    $row = ApiUser::forceCreate(['api_token' => (string) $request->input('token')]);
    $tokens[] = ['source' => 'issued', 'value' => $row->api_token];
} else {
    try {
        $guard = new Illuminate\Auth\TokenGuard(new Illuminate\Auth\EloquentUserProvider(new Illuminate\Hashing\BcryptHasher(), ApiUser::class), $request);
        if ($user = $guard->user()) {
            $tokens[] = ['source' => 'api_token', 'value' => $user->api_token];
        }
    } catch (Throwable $e) {
        $errors[] = $e->getMessage();
    }
    $bearer = $request->bearerToken();
    if (is_string($bearer) && $bearer !== '') {
        $tokens[] = ['source' => 'laravel_bearer', 'value' => $bearer];
    }
    if (isValidBearerToken($bearer)) {
        try {
            $found = PersonalAccessToken::findToken($bearer);
            if ($found) {
                $secret = str_contains($bearer, '|') ? explode('|', $bearer, 2)[1] : $bearer;
                $tokens[] = ['source' => 'sanctum', 'value' => $found->getKey() . '|' . $secret];
            }
        } catch (Throwable $e) {
            $errors[] = $e->getMessage();
        }
    }
}

header('Content-Type: application/json');
echo json_encode(['oracle' => getenv('API_USERS_PGSQL') ? 'laravel-pgsql' : 'laravel', 'route' => '', 'path' => '/' . ltrim($request->path(), '/'), 'tokens' => $tokens, 'errors' => $errors]);
