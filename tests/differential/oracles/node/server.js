// Differential-test oracle (issue 9): an Express 4 app reading tokens the
// way typical Node APIs do, answering every request with JSON listing each
// token it extracted and where from. Usage: node server.js PORT
'use strict';

const express = require('express');
const bodyParser = require('body-parser');
const cookieParser = require('cookie-parser');
const multer = require('multer');
const passport = require('passport');
const BearerStrategy = require('passport-http-bearer').Strategy;

const port = Number(process.argv[2] || process.env.PORT);
if (!port) {
  console.error('usage: node server.js PORT');
  process.exit(2);
}

// passport-http-bearer's default: the Authorization header, else
// req.body.access_token, else req.query.access_token.
passport.use(new BearerStrategy({ passReqToCallback: true }, (req, token, done) => {
  add(req, 'passport', token);
  done(null, { id: 1 });
}));

// add records v (a string, or the strings inside an array or object, as
// qs and body-parser produce them) under source.
function add(req, source, v) {
  if (v === undefined || v === null) return;
  if (typeof v === 'string') {
    req.oracleTokens.push({ source, value: v });
  } else if (typeof v === 'object') {
    for (const k of Object.keys(v)) add(req, source, v[k]);
  } else {
    req.oracleTokens.push({ source, value: String(v) });
  }
}

const app = express(); // Express 4 defaults: qs ("extended") query parser, case-insensitive routing
app.disable('x-powered-by');
app.use((req, res, next) => { req.oracleTokens = []; req.oracleErrors = []; next(); });
// body-parser: inflate is on by default (gzip, deflate Content-Encoding).
app.use(bodyParser.urlencoded({ extended: true, inflate: true }));
app.use(bodyParser.json({ inflate: true }));
// Signed cookies ("s:" + value + "." + HMAC, cookie-signature) with this
// secret land in req.signedCookies; JSON cookies ("j:" + JSON) are decoded
// in both (cookie-parser's JSONCookies).
const COOKIE_SECRET = 'differential-oracle-cookie-secret';
app.use(cookieParser(COOKIE_SECRET));
app.use(multer().none());
// A body the parsers refuse still gets an answer (with what else was read).
app.use((err, req, res, next) => { req.oracleErrors.push(String(err && err.message)); next(); });

function extract(req, res, next) {
  add(req, 'query', req.query && req.query.access_token);
  add(req, 'body', req.body && req.body.access_token);
  add(req, 'cookie', req.cookies && req.cookies.session);
  // A signed cookie whose signature does not match is false: not read.
  const signed = req.signedCookies && req.signedCookies.session;
  if (signed !== false) add(req, 'signed_cookie', signed);
  add(req, 'header', req.headers['x-api-key']);
  // The hand-written reading found in many apps.
  const auth = req.headers.authorization;
  if (auth) add(req, 'bearer_split', auth.split(' ')[1]);
  // An Elasticsearch-style "ApiKey base64(id:key)", decoded
  // the idiomatic Node way (Buffer.from(..., 'base64'): characters outside
  // the alphabet are skipped).
  if (auth && /^ApiKey /i.test(auth)) {
    const decoded = Buffer.from(auth.slice(7), 'base64').toString();
    const i = decoded.indexOf(':');
    if (i >= 0) add(req, 'apikey', decoded.slice(i + 1));
  }
  // A credential an application takes base64-encoded in its body,
  // decoded the idiomatic Node way (Buffer.from(..., 'base64'): white
  // space and characters outside the alphabet are skipped).
  const cred = req.body && req.body.credential;
  if (typeof cred === 'string') add(req, 'body_base64', Buffer.from(cred, 'base64').toString());
  passport.authenticate('bearer', { session: false }, () => next())(req, res, next);
}

function answer(route) {
  return (req, res) => {
    res.json({ oracle: 'node', route, path: req.path, tokens: req.oracleTokens, errors: req.oracleErrors });
  };
}

// The framework's own routing decides which endpoint a path reaches
// (case-insensitive, trailing slash allowed: Express defaults).
app.post('/oauth/revoke', extract, answer('revoke'));
app.all('*', extract, answer(''));

app.listen(port, '127.0.0.1', () => console.log(`node oracle listening on 127.0.0.1:${port}`));
